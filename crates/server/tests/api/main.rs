//! Integration tests of the HTTP API: the real server on port 0 with a fresh database.
//! One test binary (modules below) so it links once.

mod accounts;
mod connection;
mod contract;
mod coverage;
mod flows;
mod group_mappings;
mod guests;
mod leases;
mod local_partners;
mod manage;
mod matrix;
mod matrix_partners;
mod offboarding;
mod partner_users;
mod partners;
mod partnership;
mod rotation;
mod scim;
mod scim_leaver;
mod scim_tester;
mod support;
mod sync;
mod web;
mod web_partners;
mod wire_format;
mod worker;
