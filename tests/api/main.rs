//! Black-box tests of the HTTP API, all in one binary.

mod acl_changes;
mod csrf;
mod enumeration;
mod flow;
mod helpers;
mod local_mode;
mod pages;
mod security;
mod verify_errors;
