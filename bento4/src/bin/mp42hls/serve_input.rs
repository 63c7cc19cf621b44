//! Where `--serve` jobs come from: stdin, either a message socket (one job per
//! message, the source's descriptor attached with SCM_RIGHTS) or a byte stream
//! (a pipe, a file, a stream socket: one job per line, sources by path).

use bento4::cli::serve::MAX_JOB_BYTES;
use nix::sys::socket::{getsockopt, recvmsg, sockopt, ControlMessageOwned, MsgFlags, SockType};
use std::io::{self, BufRead, IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Descriptors one message can carry (Linux's SCM_MAX_FD): the control buffer has
/// room for all of them, so none is ever cut off (and so leaked) by MSG_CTRUNC.
const MAX_FDS_PER_MESSAGE: usize = 253;

/// One job as received.
pub struct Received {
    pub bytes: Vec<u8>,
    /// Every descriptor that came with the job, owned: dropping the job closes them.
    pub fds: Vec<OwnedFd>,
    /// The job was longer than `MAX_JOB_BYTES` (its start is in `bytes`).
    pub too_long: bool,
}

pub enum JobInput {
    Messages,
    Lines(io::BufReader<io::Stdin>),
}

impl JobInput {
    /// Message mode when stdin is a SOCK_SEQPACKET or SOCK_DGRAM socket.
    pub fn stdin() -> JobInput {
        let stdin = io::stdin();
        match getsockopt(&stdin.as_fd(), sockopt::SockType) {
            Ok(SockType::SeqPacket | SockType::Datagram) => JobInput::Messages,
            _ => JobInput::Lines(io::BufReader::new(stdin)),
        }
    }

    /// The next job, or None at the end of input.
    pub fn next(&mut self) -> io::Result<Option<Received>> {
        match self {
            JobInput::Messages => next_message(io::stdin().as_raw_fd()),
            JobInput::Lines(reader) => next_line(reader),
        }
    }
}

fn next_message(socket: RawFd) -> io::Result<Option<Received>> {
    let mut bytes = vec![0u8; MAX_JOB_BYTES];
    let mut control = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    loop {
        let mut iov = [IoSliceMut::new(&mut bytes)];
        let message = match recvmsg::<()>(
            socket,
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => message,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        };
        let mut fds = Vec::new();
        for cmsg in message.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(received) = cmsg {
                for fd in received {
                    // SAFETY: the kernel just installed this descriptor in our table
                    // for us; nothing else in the process knows or owns it.
                    fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                }
            }
        }
        let too_long = message.flags.contains(MsgFlags::MSG_TRUNC);
        let len = message.bytes;
        // An empty message without descriptors is the end: SOCK_SEQPACKET reads it
        // when the peer closes; over SOCK_DGRAM (no end of stream) the peer sends it.
        if len == 0 && fds.is_empty() {
            return Ok(None);
        }
        bytes.truncate(len);
        return Ok(Some(Received {
            bytes,
            fds,
            too_long,
        }));
    }
}

fn next_line(reader: &mut impl BufRead) -> io::Result<Option<Received>> {
    loop {
        let mut bytes = Vec::new();
        let read = reader
            .by_ref()
            .take(MAX_JOB_BYTES as u64 + 1)
            .read_until(b'\n', &mut bytes)?;
        if read == 0 {
            return Ok(None);
        }
        let ended = bytes.last() == Some(&b'\n');
        let too_long = bytes.len() > MAX_JOB_BYTES && !ended;
        if too_long {
            // Skip the rest of the line: the next line is the next job.
            let mut rest = Vec::new();
            reader.read_until(b'\n', &mut rest)?;
        }
        if !too_long && bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Ok(Some(Received {
            bytes,
            fds: Vec::new(),
            too_long,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_jobs_blank_lines_are_not_and_long_lines_are_cut() {
        let long = "x".repeat(MAX_JOB_BYTES + 10);
        let text = format!("{{\"id\":1}}\n\n  \n{long}\n{{\"id\":2}}");
        let mut reader = io::Cursor::new(text.into_bytes());
        let first = next_line(&mut reader).unwrap().unwrap();
        assert_eq!(first.bytes, b"{\"id\":1}\n");
        assert!(!first.too_long);
        let second = next_line(&mut reader).unwrap().unwrap();
        assert!(second.too_long);
        // The last line has no newline and is still a job.
        let third = next_line(&mut reader).unwrap().unwrap();
        assert_eq!(third.bytes, b"{\"id\":2}");
        assert!(next_line(&mut reader).unwrap().is_none());
    }
}
