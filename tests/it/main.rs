//! memsafe's one integration-test binary.

mod cli;
mod common;
mod init;
mod merge;
mod regen;
mod render;
mod scripts;
