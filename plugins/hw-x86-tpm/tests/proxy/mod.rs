//! A TPM that misbehaves in the middle of a sequence: a loopback proxy in
//! front of a real swtpm, which hands each command to a rule before
//! forwarding it. The rule may answer in the TPM's place, spoil the TPM's
//! answer, or act first (reset the TPM) and let the command through.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What to do with one command.
pub enum Action {
    /// Forward it and pass the answer back.
    Forward,
    /// Do not forward it; answer these bytes.
    Answer(Vec<u8>),
    /// Forward it (the TPM runs it), then answer these bytes instead.
    Replace(Vec<u8>),
    /// The TPM was just reset (TPM2_Init on its control port): send it
    /// TPM2_Startup(CLEAR) on this connection, as firmware would, then
    /// forward the command. (A second connection would be refused while
    /// the plugin's is open.)
    StartupThenForward,
}

/// TPM2_Startup(CLEAR).
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];

/// A rule: the command code of each command, in order, to an action.
pub type Rule = Box<dyn FnMut(u32) -> Action + Send>;

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
}

impl Proxy {
    /// A proxy to the raw TPM port `tpm`, applying `rule`.
    pub fn start(tpm: SocketAddr, rule: Rule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rule = Arc::new(Mutex::new(rule));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let rule = rule.clone();
                std::thread::spawn(move || serve(client, tpm, &rule));
            }
        });
        Proxy { addr }
    }

    /// Where the plugin's device points.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn serve(mut client: TcpStream, tpm: SocketAddr, rule: &Mutex<Rule>) {
    let mut upstream = TcpStream::connect(tpm).unwrap();
    while let Some(command) = frame(&mut client) {
        let cc = u32::from_be_bytes(command[6..10].try_into().unwrap());
        let action = (rule.lock().unwrap())(cc);
        let answer = match action {
            Action::Answer(bytes) => bytes,
            Action::Forward | Action::Replace(_) | Action::StartupThenForward => {
                if let Action::StartupThenForward = action {
                    upstream.write_all(&STARTUP_CLEAR).unwrap();
                    let started = frame(&mut upstream).expect("swtpm answers Startup");
                    assert_eq!(started, error_response(0), "TPM2_Startup(CLEAR)");
                }
                upstream.write_all(&command).unwrap();
                let real = frame(&mut upstream).expect("swtpm answers");
                match action {
                    Action::Replace(bytes) => bytes,
                    _ => real,
                }
            }
        };
        if client.write_all(&answer).is_err() {
            return;
        }
    }
}

/// One TPM frame (command or response), by the size in its header.
fn frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; 10];
    stream.read_exact(&mut bytes).ok()?;
    let size = u32::from_be_bytes(bytes[2..6].try_into().unwrap()) as usize;
    bytes.resize(size.max(10), 0);
    stream.read_exact(&mut bytes[10..]).ok()?;
    Some(bytes)
}

/// A response with no body: tag NO_SESSIONS and `code`.
pub fn error_response(code: u32) -> Vec<u8> {
    let mut r = vec![0x80, 0x01, 0, 0, 0, 10];
    r.extend_from_slice(&code.to_be_bytes());
    r
}
