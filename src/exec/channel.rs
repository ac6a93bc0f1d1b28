//! The parent's and the child's socket: length-prefixed messages over a `UnixStream`.
//!
//! Takes bytes; returns them on the other side, or `None` when the peer closed first (it died).

use std::io::{Error, ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

/// The largest message read (the outcome of a plan of thousands of steps is far smaller).
const MAX: usize = 256 << 20;

/// Sends a message: a 4-byte little-endian length, then the bytes (in one write).
pub fn send(sock: &mut UnixStream, msg: &[u8]) -> std::io::Result<()> {
    let n = u32::try_from(msg.len())
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "message over 4 GiB"))?;
    let mut buf = Vec::with_capacity(4 + msg.len());
    buf.extend_from_slice(&n.to_le_bytes());
    buf.extend_from_slice(msg);
    sock.write_all(&buf)
}

/// Receives a message; `None` when the peer closed first.
pub fn recv(sock: &mut UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut n = [0u8; 4];
    match sock.read_exact(&mut n) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(n) as usize;
    if n > MAX {
        return Err(Error::new(ErrorKind::InvalidData, "message over 256 MiB"));
    }
    let mut buf = vec![0u8; n];
    match sock.read_exact(&mut buf) {
        Ok(()) => Ok(Some(buf)),
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_arrives_whole_and_a_closed_peer_is_none() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        send(&mut a, b"outcome").unwrap();
        send(&mut a, b"").unwrap();
        assert_eq!(recv(&mut b).unwrap().as_deref(), Some(&b"outcome"[..]));
        assert_eq!(recv(&mut b).unwrap().as_deref(), Some(&b""[..]));
        // Half a message, then the peer dies: nothing is made up.
        a.write_all(&9u32.to_le_bytes()).unwrap();
        a.write_all(b"half").unwrap();
        drop(a);
        assert_eq!(recv(&mut b).unwrap(), None);
    }

    #[test]
    fn an_oversized_length_is_refused_before_anything_is_allocated() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(&u32::MAX.to_le_bytes()).unwrap();
        assert_eq!(recv(&mut b).unwrap_err().kind(), ErrorKind::InvalidData);
    }
}
