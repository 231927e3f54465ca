//! Black-box tests of the HTTP API, all in one binary.

mod acl_changes;
mod budget;
mod csrf;
mod enumeration;
mod flow;
mod helpers;
mod limits;
mod local_mode;
mod pages;
mod resend;
mod security;
mod timing;
mod verify_errors;
