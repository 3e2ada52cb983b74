//! OpenTelemetry trace export over OTLP/HTTP (JSON), as a `tracing` layer.
//!
//! Written here rather than pulled in as the OpenTelemetry SDK: Tearsheet needs one
//! thing from it (spans to a collector) and the SDK, its OTLP exporter and the
//! tracing bridge are a large dependency tree for a 2-core build. The format is the
//! OTLP/JSON `ExportTraceServiceRequest` every collector accepts on `/v1/traces`.
//!
//! - Spans exported: `request` (one per HTTP request; kind server), `graphql.resolve`
//!   (each root field), `sql` (each statement, with its shape; kind client).
//! - A request that carries a W3C `traceparent` continues that trace: its span gets the
//!   trace id and the gateway's span as parent; otherwise a new trace starts.
//! - Attributes are the spans' own fields (request id, method, path, field name, SQL
//!   shape): never variables, tokens or SQL parameters, which no span records.
//! - Export never blocks a request: spans go through a bounded queue to an exporter
//!   thread that posts batches (every second, or 512 spans); when the collector is slow
//!   or down, spans are dropped and counted, not buffered without bound.

use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tracing::span::{Attributes, Id, Record};
use tracing::{Subscriber, field::Field};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

const QUEUE: usize = 8192;
const BATCH: usize = 512;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where and as whom to export.
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://collector:4318`) or its full `/v1/traces` URL.
    pub endpoint: String,
    pub service_name: String,
}

impl OtlpConfig {
    fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") { base.to_owned() } else { format!("{base}/v1/traces") }
    }
}

/// Trace and span ids of a span, kept in its extensions.
#[derive(Clone, Copy)]
struct Ids {
    trace: [u8; 16],
    span: [u8; 8],
    parent: Option<[u8; 8]>,
}

struct SpanData {
    ids: Ids,
    name: &'static str,
    start: SystemTime,
    attributes: Vec<(&'static str, String)>,
}

enum Message {
    Span(Value),
    Flush(std::sync::mpsc::Sender<()>),
}

pub struct OtlpLayer {
    queue: SyncSender<Message>,
}

/// The exporter's queue, for [`flush`].
static EXPORTER: OnceLock<SyncSender<Message>> = OnceLock::new();

impl OtlpLayer {
    /// The layer, and the exporter thread it feeds.
    pub fn start(config: OtlpConfig) -> OtlpLayer {
        let (queue, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || export(config, receiver))
            .expect("starting the OTLP exporter thread");
        let _ = EXPORTER.set(queue.clone());
        OtlpLayer { queue }
    }
}

/// Sends what is queued and waits (up to 2 s) for it to be posted: before the process exits.
pub fn flush() {
    let Some(queue) = EXPORTER.get() else { return };
    let (done, wait) = std::sync::mpsc::channel();
    if queue.send(Message::Flush(done)).is_ok() {
        let _ = wait.recv_timeout(Duration::from_secs(2));
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let a = uuid::Uuid::new_v4();
    out.copy_from_slice(&a.as_bytes()[..N]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The trace id and parent span id of a W3C `traceparent` (`00-<trace>-<span>-<flags>`);
/// `None` for anything malformed or all-zero.
pub fn parse_traceparent(value: &str) -> Option<([u8; 16], [u8; 8])> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let (trace, span, _flags) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" {
        return None;
    }
    let trace = unhex::<16>(trace)?;
    let span = unhex::<8>(span)?;
    (trace != [0; 16] && span != [0; 8]).then_some((trace, span))
}

struct Fields<'a>(&'a mut Vec<(&'static str, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        let parent = span.parent().and_then(|p| p.extensions().get::<SpanData>().map(|d| d.ids));
        let ids = match parent {
            Some(parent) => Ids { trace: parent.trace, span: random_bytes(), parent: Some(parent.span) },
            None => {
                let remote =
                    attributes.iter().find(|(k, _)| *k == "traceparent").and_then(|(_, v)| parse_traceparent(v));
                match remote {
                    Some((trace, parent)) => Ids { trace, span: random_bytes(), parent: Some(parent) },
                    None => Ids { trace: random_bytes(), span: random_bytes(), parent: None },
                }
            }
        };
        attributes.retain(|(k, _)| *k != "traceparent");
        span.extensions_mut().insert(SpanData { ids, name: span.name(), start: SystemTime::now(), attributes });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else { return };
        values.record(&mut Fields(&mut data.attributes));
        // The request span records the gateway's trace context right after it is made,
        // before any child: the span joins that trace.
        if let Some(i) = data.attributes.iter().position(|(k, _)| *k == "traceparent") {
            let (_, value) = data.attributes.remove(i);
            if let (None, Some((trace, parent))) = (data.ids.parent, parse_traceparent(&value)) {
                data.ids.trace = trace;
                data.ids.parent = Some(parent);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else { return };
        let nanos = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string();
        let kind = match data.name {
            "request" => 2, // SERVER
            "sql" => 3,     // CLIENT
            _ => 1,         // INTERNAL
        };
        let attributes: Vec<Value> =
            data.attributes.iter().map(|(k, v)| json!({ "key": k, "value": { "stringValue": v } })).collect();
        let mut out = json!({
            "traceId": hex(&data.ids.trace),
            "spanId": hex(&data.ids.span),
            "name": data.name,
            "kind": kind,
            "startTimeUnixNano": nanos(data.start),
            "endTimeUnixNano": nanos(SystemTime::now()),
            "attributes": attributes,
        });
        if let Some(parent) = data.ids.parent {
            out["parentSpanId"] = json!(hex(&parent));
        }
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Span(out)) {
            metrics::counter!("tearsheet_otlp_spans_dropped_total").increment(1);
        }
    }
}

fn export(config: OtlpConfig, receiver: Receiver<Message>) {
    let url = config.traces_url();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("OTLP export disabled: cannot start its runtime: {e}");
            return;
        }
    };
    // reqwest's connector and timeouts need the runtime's reactor from the start.
    let _entered = runtime.enter();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
    let mut batch: Vec<Value> = Vec::new();
    let mut waiting: Vec<std::sync::mpsc::Sender<()>> = Vec::new();
    loop {
        let message = receiver.recv_timeout(FLUSH_EVERY);
        let closed = matches!(message, Err(std::sync::mpsc::RecvTimeoutError::Disconnected));
        let timed_out = matches!(message, Err(std::sync::mpsc::RecvTimeoutError::Timeout));
        match message {
            Ok(Message::Span(span)) => batch.push(span),
            Ok(Message::Flush(done)) => waiting.push(done),
            Err(_) => {}
        }
        // A full batch, a flush, a quiet second, or the end: send what there is.
        let due = batch.len() >= BATCH || !waiting.is_empty() || timed_out || closed;
        if due && !batch.is_empty() {
            let body = json!({ "resourceSpans": [{
                "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": config.service_name } }] },
                "scopeSpans": [{ "scope": { "name": "tearsheet" }, "spans": std::mem::take(&mut batch) }],
            }]});
            let sent = runtime.block_on(client.post(&url).json(&body).send());
            if let Err(e) = sent.and_then(|r| r.error_for_status()) {
                // Not through `tracing`: this thread's own events would be exported too.
                eprintln!("OTLP export to {url} failed: {e}");
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_as_w3c_defines_it() {
        let (trace, span) =
            parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").expect("valid");
        assert_eq!(hex(&trace), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(hex(&span), "b7ad6b7169203331");
        assert!(parse_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_none());
        assert!(parse_traceparent("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").is_none());
        assert!(parse_traceparent("00-xyz-b7ad6b7169203331-01").is_none());
        assert!(parse_traceparent("garbage").is_none());
    }

    #[test]
    fn the_traces_url_is_the_collectors_v1_traces() {
        let c = |e: &str| OtlpConfig { endpoint: e.into(), service_name: "t".into() }.traces_url();
        assert_eq!(c("http://collector:4318"), "http://collector:4318/v1/traces");
        assert_eq!(c("http://collector:4318/"), "http://collector:4318/v1/traces");
        assert_eq!(c("http://collector:4318/v1/traces"), "http://collector:4318/v1/traces");
    }
}
