//! memsafe's one integration-test binary.

mod cli;
mod common;
mod init;
mod merge;
mod render;
mod scripts;
