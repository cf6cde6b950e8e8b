//! memsafe's one integration-test binary.

mod cli;
mod common;
mod editors;
mod faults;
mod init;
mod merge;
mod props;
mod regen;
mod remove;
mod render;
mod scripts;
