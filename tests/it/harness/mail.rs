//! A real SMTP server for the mail tests: `pytools/smtp_sink.py` (aiosmtpd, installed by
//! `.ci/run` from `pytools/requirements.txt`) in its own process, writing each message it
//! accepts to a folder this side reads.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct MailSink {
    child: Child,
    /// Closing it stops the sink.
    _stdin: ChildStdin,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Drop for MailSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

impl Received {
    /// The first link in the message.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in {self:?}"))
            .to_string()
    }

    /// The token the link carries.
    pub fn token(&self) -> String {
        let link = self.link();
        url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned()
    }
}

impl MailSink {
    /// None when aiosmtpd is not installed here; with `CI` set it must be (.ci/run installs it).
    pub fn start() -> Option<MailSink> {
        let installed = Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but aiosmtpd is not installed (pytools/requirements.txt)"
            );
            eprintln!("skipping: python3 -m pip install -r pytools/requirements.txt to run the mail tests");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pytools/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        Some(MailSink { child, _stdin: stdin, port, dir })
    }

    /// The URL Gatehouse sends through (`GATEHOUSE_SMTP_URL`): plain SMTP on loopback.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far, oldest first.
    pub fn all(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                Received {
                    to: v["to"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect(),
                    subject: v["subject"].as_str().unwrap().to_string(),
                    text: v["text"].as_str().unwrap().to_string(),
                }
            })
            .collect()
    }

    /// Messages to `to`, oldest first.
    pub fn to(&self, to: &str) -> Vec<Received> {
        self.all().into_iter().filter(|m| m.to.iter().any(|t| t == to)).collect()
    }

    /// Waits (at most ten seconds) until `to` has received `count` messages; returns the newest.
    pub async fn wait_for(&self, to: &str, count: usize) -> Received {
        for _ in 0..200 {
            let got = self.to(to);
            if got.len() >= count {
                return got[count - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message #{count} to {to} arrived; all: {:?}", self.all());
    }

    /// Waits (at most ten seconds) for a message to `to` with this subject.
    pub async fn wait_for_subject(&self, to: &str, subject: &str) -> Received {
        for _ in 0..200 {
            if let Some(m) = self.to(to).into_iter().find(|m| m.subject == subject) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message '{subject}' to {to} arrived; all: {:?}", self.all());
    }
}
