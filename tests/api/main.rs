//! Integration tests: the real server, the real migrations, the generated
//! clients. SQLite by default; PostgreSQL when `DATABASE_URL` is set.

mod access;
mod articles;
mod authors;
mod bad_input;
mod comment_safety;
mod comments;
mod concurrency;
mod events;
mod grpc_web;
mod keys;
mod lifecycle;
mod mass_assignment;
mod moderation;
mod ownership;
mod paging;
mod published_view;
mod reader_cache;
mod revisions;
mod scheduling;
mod shares;
mod slugs;
mod stack;
mod support;
mod watch;
mod workflow;
mod write_groups;
