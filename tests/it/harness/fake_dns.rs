//! A DNS server for the tests' domain proofs: one UDP socket on loopback, on its own thread for
//! the whole test process (each test has its own runtime, which a task would die with), that
//! answers TXT questions from a table the tests add to. Names nobody published get NXDOMAIN, as
//! from a real zone. Tests running at once may publish at one name; each claim's token is its own, so one test's record never proves another's claim.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Mutex, OnceLock};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};

struct Server {
    addr: SocketAddr,
    /// Lowercase name without the final dot → its TXT records.
    records: Mutex<HashMap<String, Vec<String>>>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<&'static Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server: &'static Server =
            Box::leak(Box::new(Server { addr: socket.local_addr().unwrap(), records: Mutex::default() }));
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if let Some(answer) = answer(server, &buf[..n]) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        server
    })
}

fn answer(server: &Server, question: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(question).ok()?;
    if q.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut res = Message::response(q.metadata.id, OpCode::Query);
    res.metadata.recursion_desired = q.metadata.recursion_desired;
    res.metadata.recursion_available = true;
    res.metadata.authoritative = true;
    let mut known = false;
    for query in &q.queries {
        res.add_query(query.clone());
        let name = query.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let Some(texts) = server.records.lock().unwrap().get(&name).cloned() else { continue };
        known = true;
        if query.query_type() == RecordType::TXT {
            for text in texts {
                res.add_answer(Record::from_rdata(query.name().clone(), 0, RData::TXT(TXT::new(vec![text]))));
            }
        }
    }
    if !known {
        res.metadata.response_code = ResponseCode::NXDomain;
    }
    res.to_vec().ok()
}

/// Where the server listens, as `outbound.dns_server` takes it.
pub fn addr() -> String {
    server().addr.to_string()
}

/// Adds TXT records at `name`, beside those there (tests running at once may publish at the
/// same name, as several parties do in a real zone).
pub fn publish(name: &str, texts: &[&str]) {
    let mut records = server().records.lock().unwrap();
    let at = records.entry(name.trim_end_matches('.').to_ascii_lowercase()).or_default();
    at.extend(texts.iter().map(|t| t.to_string()));
}

/// The settings of a test server that proves domains here (and fetches from loopback).
pub fn env() -> [(&'static str, &'static str); 2] {
    static ADDR: OnceLock<String> = OnceLock::new();
    let addr = ADDR.get_or_init(addr).as_str();
    [("GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS", "true"), ("GATEHOUSE_OUTBOUND_DNS_SERVER", addr)]
}
