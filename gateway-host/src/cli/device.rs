//! `chainproof device serve`: a simulated device on local HTTP, so the technician's page (and
//! its tests) can fetch a chain and challenge a device without hardware. It signs whatever
//! challenge it is sent with its key file, as a device would; it decides nothing.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64ct::{Base64, Encoding};
use chainproof::Challenge;
use clap::{Args, Subcommand};
use tiny_http::{Header, Method, Request, Response, Server};

use super::pop::device_key::DeviceKey;
use super::pop::{FormatArg, RsaPaddingArg};
use super::{Outcome, UsageError, emit, files};

/// Largest challenge request body read: a token is under 500 characters (the blob is at most
/// `MAX_BLOB_LEN` bytes); anything much bigger is not a challenge.
const MAX_BODY: u64 = 4096;

/// Arguments of `chainproof device`.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    #[command(subcommand)]
    command: DeviceCommand,
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// Serve a simulated device over local HTTP: `GET /chain` returns its certificate chain
    /// (PEM), `POST /challenge` with a challenge token returns its signature (base64).
    Serve(ServeArgs),
}

/// Arguments of `chainproof device serve`.
#[derive(Args, Debug)]
#[command(
    after_long_help = "Endpoints (CORS open to any origin, for the technician's page):
  GET  /chain      the device certificate, then the --chain certificates, as PEM
  POST /challenge  body: a challenge token (text); answer: the signature, base64

The key is not checked against the certificate, so a clone (a copied certificate without \
its key) is simulated by serving a genuine certificate with another key. Runs until killed."
)]
pub struct ServeArgs {
    /// The device certificate, PEM or DER (it may hold the whole chain the device sends).
    #[arg(long, value_name = "CERT.pem")]
    cert: PathBuf,
    /// The device's private key: PKCS#8, SEC1 or PKCS#1 PEM (as for `pop sign`).
    #[arg(long, value_name = "KEY.pem")]
    key: PathBuf,
    /// Intermediate certificates the device sends after its own; repeatable.
    #[arg(long, value_name = "CHAIN.pem")]
    chain: Vec<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8480")]
    listen: SocketAddr,
    /// ECDSA signature encoding (ignored for RSA and Ed25519).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "der")]
    format: FormatArg,
}

/// Run `chainproof device ...`.
pub fn run(args: &DeviceArgs) -> Result<Outcome, UsageError> {
    match &args.command {
        DeviceCommand::Serve(a) => serve(a),
    }
}

/// The chain as PEM text: every certificate of `--cert` then of each `--chain` file.
fn chain_pem(args: &ServeArgs) -> Result<String, UsageError> {
    let mut ders = files::certificates(&args.cert, "the device certificate")?;
    for path in &args.chain {
        ders.extend(files::certificates(path, "the device's chain")?);
    }
    let mut pem = String::new();
    for der in &ders {
        let block = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
            .map_err(|e| UsageError(format!("cannot encode the chain as PEM: {e}")))?;
        pem.push_str(&block);
    }
    Ok(pem)
}

fn serve(args: &ServeArgs) -> Result<Outcome, UsageError> {
    let chain = chain_pem(args)?;
    let key = DeviceKey::load(&args.key)?;
    let server = Server::http(args.listen)
        .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = server
        .server_addr()
        .to_ip()
        .map_or_else(|| args.listen.to_string(), |a| a.to_string());
    emit(&format!("device listening on http://{addr}\n"));
    for request in server.incoming_requests() {
        answer(request, &chain, &key, args.format);
    }
    Ok(Outcome::Ok)
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// CORS for the page (any origin: the simulator holds nothing secret), including Chromium's
/// Private Network Access preflight header.
fn with_cors<R: Read>(mut response: Response<R>) -> Response<R> {
    for (name, value) in [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
        ("Access-Control-Allow-Headers", "Content-Type"),
        ("Access-Control-Allow-Private-Network", "true"),
        ("Cache-Control", "no-store"),
    ] {
        if let Some(h) = header(name, value) {
            response.add_header(h);
        }
    }
    response
}

fn text(status: u16, body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut r = Response::from_string(body).with_status_code(status);
    if let Some(h) = header("Content-Type", "text/plain; charset=utf-8") {
        r.add_header(h);
    }
    with_cors(r)
}

fn answer(mut request: Request, chain: &str, key: &DeviceKey, format: FormatArg) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    let response = match (request.method(), path.as_str()) {
        (Method::Options, _) => text(204, String::new()),
        (Method::Get, "/chain") => text(200, chain.to_owned()),
        (Method::Post, "/challenge") => {
            let mut body = String::new();
            match request.as_reader().take(MAX_BODY).read_to_string(&mut body) {
                Ok(_) => sign(key, body.trim(), format),
                Err(e) => text(400, format!("cannot read the request body: {e}\n")),
            }
        }
        (Method::Get, "/") => text(
            200,
            "chainproof simulated device: GET /chain, POST /challenge\n".to_owned(),
        ),
        _ => text(404, format!("no such endpoint: {path}\n")),
    };
    // A client that went away is not the simulator's problem.
    let _ = request.respond(response);
}

fn sign(key: &DeviceKey, token: &str, format: FormatArg) -> Response<std::io::Cursor<Vec<u8>>> {
    let challenge = match Challenge::from_token(token) {
        Ok(c) => c,
        Err(e) => return text(400, format!("not a challenge token: {e} [{}]\n", e.code())),
    };
    match key.sign(&challenge.signed_bytes(), format, RsaPaddingArg::Pkcs1) {
        Ok(sig) => text(200, Base64::encode_string(&sig)),
        Err(e) => text(500, format!("cannot sign: {e}\n")),
    }
}
