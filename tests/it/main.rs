//! memsafe's one integration-test binary.

mod calibrate;
mod cli;
mod common;
mod editors;
mod existing;
mod faults;
mod first_hour;
mod governor;
mod governor_wiring;
mod init;
mod merge;
mod model;
mod ownership;
mod platforms;
mod props;
mod pty;
mod regen;
mod remove;
mod render;
mod scripts;
