//! include_dir does not notice a new or removed template (include_dir#120): rerun on any
//! change below templates/.
fn main() {
    println!("cargo:rerun-if-changed=templates");
}
