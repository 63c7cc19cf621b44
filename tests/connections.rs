//! The standalone nginx.conf is sized for an origin: far more than 1,024 clients at
//! once (500 parallel clients were reset when it allowed 1,024 connections).

mod common;

use common::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Clients connected at the same time: beyond the old 1,024 of one nginx process.
const CLIENTS: usize = 2000;

#[test]
fn two_thousand_clients_at_once_are_all_answered() {
    // This process holds every client socket (a login shell's soft limit may be 1,024).
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let wanted = (CLIENTS as u64 + 256).min(hard);
    if soft < wanted {
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).expect("raise our descriptor limit");
    }
    assert!(
        wanted >= CLIENTS as u64 + 256,
        "the hard descriptor limit {hard} is too low for this test"
    );
    let stack = Stack::builder().media("clip_low.mp4").start();
    let path = "/i/clip_low.mp4/index_0_av.m3u8";
    let first = stack.get(path);
    assert_eq!(first.status, 200, "{}", first.text());

    // All connected (and idle) first, then each sends its request.
    let mut clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            TcpStream::connect(("127.0.0.1", stack.port))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"))
        })
        .collect();
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut failed = Vec::new();
    for (i, client) in clients.iter_mut().enumerate() {
        if let Err(e) = client.write_all(request.as_bytes()) {
            failed.push(format!("{i}: write: {e}"));
        }
    }
    let mut answered = 0;
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut answer = Vec::new();
        match client.read_to_end(&mut answer) {
            Ok(_) if answer.starts_with(b"HTTP/1.1 200 ") && answer.ends_with(&first.body) => {
                answered += 1
            }
            Ok(_) => failed.push(format!("{i}: {:?}", String::from_utf8_lossy(&answer))),
            Err(e) => failed.push(format!("{i}: read: {e}")),
        }
    }
    eprintln!("{answered} of {CLIENTS} simultaneous clients answered");
    assert!(
        failed.is_empty(),
        "{} of {CLIENTS} clients failed, e.g. {:?}\n{}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>(),
        stack.nginx_error_log()
    );
    assert!(
        !stack
            .nginx_error_log()
            .contains("worker_connections are not enough"),
        "{}",
        stack.nginx_error_log()
    );
}
