//! `embed_migrations!` reads the migrations directory at compile time, but
//! Cargo only knows about the files it includes: a new migration directory
//! would not rebuild the crate, and binaries would run without it (the
//! documented fix: diesel_migrations' `embed_migrations!` docs).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
