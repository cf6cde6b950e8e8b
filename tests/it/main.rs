//! memsafe's one integration-test binary.

mod cli;
mod common;
mod init;
mod merge;
mod regen;
mod remove;
mod render;
mod scripts;
