//! Capture files (pcap and pcapng) read as a DNS log: each DNS query on the wire becomes the
//! same [`Query`] a Zeek `dns.log` line gives (time of the query, client, name, the answer's
//! code, or none when no answer was captured), so `monitor`, `predict` and the page judge a
//! capture as they judge the log of it. Also tells a capture, a gzip stream, text and other
//! binary files apart by their first bytes.
//!
//! The file formats are `pcap-parser`'s, the link, IP, UDP and TCP layers `etherparse`'s (IP
//! fragments put back together by its `IpDefragPool`) and DNS messages `simple-dns`'s. Written
//! here: Linux cooked v2 headers (etherparse reads v1 only), the pairing of queries with their
//! answers, the reassembly of DNS over TCP (a two-byte length before each message, a message
//! split across segments), which no crate does for us, and a bound on the fragments held.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::net::IpAddr;

use etherparse::defrag::IpDefragPool;
use etherparse::{
    EtherType, IpNumber, Ipv6ExtensionSlice, NetSlice, SlicedPacket, TcpSlice, TransportSlice,
    UdpSlice,
};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};

use crate::dnslog::{Format, LogRead, Parsed, Query};

/// What a file's first bytes say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A classic pcap file (any byte order, micro- or nanosecond times).
    Pcap,
    /// A pcapng file.
    Pcapng,
    /// A gzip stream: look again at what it holds.
    Gzip,
    /// Text: a log, a list of names.
    Text,
    /// Bytes that are neither text nor a capture (an executable, an archive, UTF-16 text).
    Binary,
}

impl Content {
    pub fn is_capture(self) -> bool {
        matches!(self, Content::Pcap | Content::Pcapng)
    }
}

/// Bytes enough to tell a file's content by [`sniff`].
pub const SNIFF_BYTES: usize = 4096;

/// Tells what `head` (a file's first bytes, up to [`SNIFF_BYTES`]) is: capture formats by
/// their magic numbers, text by the absence of NUL bytes and of most control characters.
pub fn sniff(head: &[u8]) -> Content {
    const PCAP_MAGICS: [[u8; 4]; 6] = [
        [0xd4, 0xc3, 0xb2, 0xa1], // microseconds, little-endian
        [0xa1, 0xb2, 0xc3, 0xd4], // microseconds, big-endian
        [0x4d, 0x3c, 0xb2, 0xa1], // nanoseconds, little-endian
        [0xa1, 0xb2, 0x3c, 0x4d], // nanoseconds, big-endian
        [0x34, 0xcd, 0xb2, 0xa1], // Kuznetzov's modified format
        [0xa1, 0xb2, 0xcd, 0x34],
    ];
    match head {
        [0x0a, 0x0d, 0x0d, 0x0a, ..] => return Content::Pcapng,
        [0x1f, 0x8b, ..] => return Content::Gzip,
        [a, b, c, d, ..] if PCAP_MAGICS.contains(&[*a, *b, *c, *d]) => return Content::Pcap,
        _ => {}
    }
    let head = &head[..head.len().min(SNIFF_BYTES)];
    let nul = head.iter().filter(|&&b| b == 0).count();
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    // A log may hold stray NUL or control bytes (a damaged line, which gets its own row); a
    // binary file, UTF-16 text or compressed data holds many: random bytes are 10.5% control.
    if nul * 20 > head.len() || control * 12 > head.len() {
        Content::Binary
    } else {
        Content::Text
    }
}

/// Why a capture could not be read at all.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureError {
    /// Not a pcap or pcapng file.
    NotACapture,
    /// The capture ended before its first packet.
    Empty,
    /// The reader failed (a damaged gzip stream, say).
    Read(String),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureError::NotACapture => write!(f, "not a pcap or pcapng capture"),
            CaptureError::Empty => write!(f, "the capture holds no packets"),
            CaptureError::Read(why) => write!(f, "cannot read the capture: {why}"),
        }
    }
}

impl std::error::Error for CaptureError {}

/// What reading a capture found besides its queries: the counts a user needs to trust that
/// nothing was silently lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureSummary {
    pub format: &'static str,
    pub packets: u64,
    /// DNS messages read (queries and answers, over UDP and TCP).
    pub messages: u64,
    pub queries: u64,
    /// Queries whose answer the capture does not hold (reported with no answer code).
    pub unanswered: u64,
    /// Answers whose query the capture does not hold, or a second, different answer to a query
    /// (an injected reply, say): each reported as a query at the answer's time, as Zeek does.
    pub answers_without_query: u64,
    /// Answers repeated byte for byte: not reported again.
    pub repeated_answers: u64,
    /// Packets on a DNS port whose payload is no DNS message simple-dns reads.
    pub malformed: u64,
    /// IP fragments read (a large answer over UDP is often split into them).
    pub fragments: u64,
    /// IP datagrams put back together from them.
    pub reassembled: u64,
    /// Datagrams some of whose fragments never came (within [`FRAGMENT_TIMEOUT_S`]) or did not
    /// fit together: their DNS message is not read.
    pub incomplete_datagrams: u64,
    /// Packets whose link layer this reader does not know, with the link type.
    pub unknown_links: BTreeMap<u32, u64>,
    /// Packets that end before their headers do (cut by the capture's snap length, or damaged).
    pub truncated: u64,
    /// TCP bytes on a DNS port skipped because segments were missing.
    pub tcp_gaps: u64,
    /// Why reading stopped before the end of the file, when it did.
    pub stopped: Option<String>,
}

impl CaptureSummary {
    /// One line for a user: what was read and what was not.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!(
            "{} capture: {} packets, {} DNS messages, {} queries ({} with no answer captured)",
            self.format, self.packets, self.messages, self.queries, self.unanswered
        )];
        let mut note = |count: u64, what: &str| {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        };
        note(
            self.answers_without_query,
            "answers without their query or a second answer",
        );
        note(self.repeated_answers, "repeated answers");
        note(self.malformed, "packets on a DNS port not read as DNS");
        let reassembled = format!("IP fragments put back into {} datagrams", self.reassembled);
        note(self.fragments, &reassembled);
        note(
            self.incomplete_datagrams,
            "fragmented datagrams left incomplete",
        );
        note(self.truncated, "packets cut short");
        note(self.tcp_gaps, "TCP bytes lost to missing segments");
        for (link, count) in &self.unknown_links {
            parts.push(format!("{count} packets of link type {link}, not read"));
        }
        if let Some(why) = &self.stopped {
            parts.push(format!("reading stopped early: {why}"));
        }
        parts.join("; ")
    }
}

/// Ports whose traffic is read as DNS unless more are named: DNS itself, multicast DNS and
/// LLMNR (as Zeek does).
pub const DNS_PORTS: [u16; 3] = [53, 5353, 5355];
/// Seconds of capture time after which a query with no answer is reported as unanswered.
const ANSWER_TIMEOUT_S: f64 = 10.0;
/// Seconds of capture time a fragmented datagram waits for its other fragments (Linux's
/// `ipfrag_time`), and how many may wait at once: each can hold up to 64 KiB, so a capture
/// of fragments that never complete must not grow without end.
const FRAGMENT_TIMEOUT_S: f64 = 30.0;
const MAX_FRAGMENTED: usize = 1 << 10;
/// Bounds on what is held while reading: outstanding queries, TCP streams and the bytes
/// waiting in one stream (a DNS message is at most 65,535 bytes).
const MAX_PENDING: usize = 1 << 16;
const MAX_STREAMS: usize = 1 << 14;
const MAX_STREAM_BYTES: usize = 1 << 18;
/// The circular buffer of the pcap reader; grown up to [`MAX_BLOCK`] for larger blocks.
const READ_BUFFER: usize = 1 << 16;
const MAX_BLOCK: usize = 1 << 26;

/// Reads a capture and hands each query to `emit` as a log line's [`Parsed::Query`] would be,
/// answered or not, in the order of the queries' times (a query waits for its answer, at most
/// [`ANSWER_TIMEOUT_S`] of capture time, and the queries completed meanwhile wait with it).
/// Damage after the first packet stops the reading and is said in the summary; queries read
/// until then are kept.
pub fn read_capture<R: Read + Send>(
    reader: R,
    emit: impl FnMut(Parsed),
) -> Result<CaptureSummary, CaptureError> {
    read_capture_on(reader, &DNS_PORTS, emit)
}

/// [`read_capture`], with the traffic to or from any of `ports` read as DNS (a resolver on a
/// port of its own, as Unbound on 5335 behind Pi-hole).
pub fn read_capture_on<R: Read + Send>(
    reader: R,
    ports: &[u16],
    mut emit: impl FnMut(Parsed),
) -> Result<CaptureSummary, CaptureError> {
    let mut blocks = match pcap_parser::create_reader(READ_BUFFER, reader) {
        Ok(blocks) => blocks,
        Err(PcapError::Eof | PcapError::Incomplete(_)) => return Err(CaptureError::Empty),
        Err(PcapError::ReadError) => {
            return Err(CaptureError::Read("the file could not be read".into()));
        }
        Err(_) => return Err(CaptureError::NotACapture),
    };
    let mut dns = DnsReader {
        ports: ports.to_vec(),
        ..DnsReader::default()
    };
    // Per interface: link type, time resolution (units per second) and offset.
    let mut interfaces: Vec<(Linktype, u64, i64)> = Vec::new();
    let mut legacy: Option<(Linktype, f64)> = None;
    let mut capacity = READ_BUFFER;
    loop {
        match blocks.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(header) => {
                        dns.summary.format = "pcap";
                        let unit = if header.is_nanosecond_precision() {
                            1e-9
                        } else {
                            1e-6
                        };
                        legacy = Some((header.network, unit));
                    }
                    PcapBlockOwned::Legacy(packet) => {
                        let (link, unit) = legacy.unwrap_or((Linktype::ETHERNET, 1e-6));
                        let time = f64::from(packet.ts_sec) + f64::from(packet.ts_usec) * unit;
                        let caplen = (packet.caplen as usize).min(packet.data.len());
                        dns.packet(time, link, &packet.data[..caplen], &mut emit);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        dns.summary.format = "pcapng";
                        interfaces.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let resolution = idb.ts_resolution().unwrap_or(1_000_000);
                        interfaces.push((idb.linktype, resolution, idb.ts_offset()));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        if let Some(&(link, resolution, ts_offset)) =
                            interfaces.get(epb.if_id as usize)
                        {
                            let time = epb.decode_ts_f64(0, resolution) + ts_offset as f64;
                            dns.packet(time, link, epb.packet_data(), &mut emit);
                        } else {
                            dns.summary.truncated += 1;
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        // Simple packets carry no time: the last one seen stands in.
                        if let Some(&(link, _, _)) = interfaces.first() {
                            dns.packet(dns.last_time, link, spb.packet_data(), &mut emit);
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                blocks.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if blocks.reader_exhausted() {
                    dns.summary.stopped = Some("the last block is cut short".into());
                    break;
                }
                if let Err(err) = blocks.refill() {
                    dns.summary.stopped = Some(describe(&err));
                    break;
                }
            }
            Err(PcapError::BufferTooSmall) => {
                capacity *= 2;
                if capacity > MAX_BLOCK || !blocks.grow(capacity) {
                    dns.summary.stopped = Some("a block larger than 64 MiB".into());
                    break;
                }
                if let Err(err) = blocks.refill() {
                    dns.summary.stopped = Some(describe(&err));
                    break;
                }
            }
            Err(err) => {
                dns.summary.stopped = Some(describe(&err));
                break;
            }
        }
    }
    if dns.summary.packets == 0 && dns.summary.stopped.is_none() && dns.summary.format.is_empty() {
        return Err(CaptureError::Empty);
    }
    dns.drop_fragments(f64::INFINITY);
    dns.flush(f64::INFINITY);
    dns.release(f64::INFINITY, &mut emit);
    Ok(dns.summary)
}

/// A capture held in memory (the page's dropped file) read as a pasted log is: every query an
/// event, numbered from 1 in time order, and the distinct names with the first query of each.
pub fn read_capture_log(bytes: &[u8]) -> Result<(LogRead, CaptureSummary), CaptureError> {
    let mut events = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let summary = read_capture(bytes, |parsed| {
        let number = events.len() + 1;
        let mut time = 0.0;
        if let Parsed::Query(query) = &parsed {
            time = query.time.unwrap_or(0.0);
            if seen.insert(query.name.to_ascii_lowercase()) {
                names.push((number, query.name.clone()));
            }
        }
        events.push((number, time, parsed));
    })?;
    // `Format` names log formats; a capture reads as what Zeek would have logged of it.
    let log = LogRead {
        format: Format::Zeek,
        events,
        names,
    };
    Ok((log, summary))
}

fn describe<I>(err: &PcapError<I>) -> String {
    match err {
        PcapError::ReadError => "the file could not be read".into(),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => "the file ends mid-block".into(),
        PcapError::NomError(_, kind) => format!("a damaged block ({kind:?})"),
        PcapError::OwnedNomError(_, kind) => format!("a damaged block ({kind:?})"),
        _ => "a damaged block".into(),
    }
}

/// One side of a DNS exchange: who asked whom, on which ports and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Exchange {
    client: IpAddr,
    client_port: u16,
    server: IpAddr,
    server_port: u16,
    tcp: bool,
    id: u16,
}

/// A query waiting for its answer.
struct Pending {
    time: f64,
    /// The order it was seen in, which breaks ties of time as a log's line order does.
    arrival: u64,
    name: String,
}

/// One direction of a TCP connection on a DNS port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Stream {
    from: (IpAddr, u16),
    to: (IpAddr, u16),
}

#[derive(Default)]
struct StreamBytes {
    /// The sequence number of the byte after `bytes`.
    next_seq: Option<u32>,
    bytes: Vec<u8>,
    /// Segments that came ahead of a missing one, by sequence number.
    ahead: BTreeMap<u32, Vec<u8>>,
    last_time: f64,
}

#[derive(Default)]
struct DnsReader {
    summary: CaptureSummary,
    /// Queries waiting for their answers; a retransmission (same exchange) waits behind the
    /// first, and each answer completes the oldest, as Zeek pairs them.
    pending: HashMap<Exchange, VecDeque<Pending>>,
    /// How many queries wait in `pending`.
    waiting: usize,
    /// A hash of the last answer of each answered exchange, to tell a repeated answer from a
    /// different one.
    answered: HashMap<Exchange, u64>,
    /// Pending exchanges in the order they were asked, to time them out.
    asked: VecDeque<(f64, Exchange)>,
    streams: HashMap<Stream, StreamBytes>,
    last_time: f64,
    /// Messages seen, numbering queries in the order they were seen.
    arrivals: u64,
    /// Completed queries by time (and arrival, for ties), held until no earlier one can come.
    ready: BTreeMap<Ordered, Query>,
    /// Fragmented datagrams being put back together, with the time of their last fragment.
    defrag: IpDefragPool<f64>,
    /// The same datagrams by their identity, to count and bound them (the pool does not say).
    fragmented: HashMap<Fragmented, f64>,
    /// Ports whose traffic is DNS.
    ports: Vec<u16>,
    /// When datagrams past [`FRAGMENT_TIMEOUT_S`] were last dropped (at most once a second of
    /// capture time: each drop walks the pool).
    fragments_dropped_at: f64,
}

/// What tells one fragmented datagram from another: its addresses, its identification and
/// what it carries (the pool's key, less VLANs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Fragmented {
    source: IpAddr,
    destination: IpAddr,
    id: u32,
    carries: IpNumber,
}

/// A query's place in time order: its time, then the order it was seen in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ordered(f64, u64);

impl Eq for Ordered {}

impl PartialOrd for Ordered {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ordered {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl DnsReader {
    fn packet(&mut self, time: f64, link: Linktype, data: &[u8], emit: &mut impl FnMut(Parsed)) {
        self.summary.packets += 1;
        self.last_time = time;
        let sliced = match link {
            Linktype::ETHERNET => SlicedPacket::from_ethernet(data),
            Linktype::LINUX_SLL => SlicedPacket::from_linux_sll(data),
            Linktype::LINUX_SLL2 => match data.get(20..) {
                // SLL2: the protocol type comes first, the payload after 20 bytes.
                Some(payload) => SlicedPacket::from_ether_type(
                    EtherType(u16::from_be_bytes([data[0], data[1]])),
                    payload,
                ),
                None => {
                    self.summary.truncated += 1;
                    return;
                }
            },
            Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => SlicedPacket::from_ip(data),
            // BSD loopback: a four-byte address family, then IP.
            Linktype::NULL | Linktype::LOOP => match data.get(4..) {
                Some(payload) => SlicedPacket::from_ip(payload),
                None => {
                    self.summary.truncated += 1;
                    return;
                }
            },
            other => {
                *self
                    .summary
                    .unknown_links
                    .entry(other.0 as u32)
                    .or_default() += 1;
                return;
            }
        };
        // Borrowed where it lies: moving the sliced packet out costs a copy per packet.
        let Ok(sliced) = &sliced else {
            self.summary.truncated += 1;
            return;
        };
        let (source, destination, fragmented) = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
                ip.is_payload_fragmented(),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
                ip.is_payload_fragmented(),
            ),
            _ => return,
        };
        if fragmented {
            self.fragment(time, sliced, emit);
            return;
        }
        self.transport(time, source, destination, &sliced.transport, emit);
    }

    /// Adds an IP fragment to its datagram, and reads the datagram once it is whole. It reads
    /// the addresses again rather than taking `packet`'s: handing them over slowed reading every
    /// packet by a measured 5% (`dga bench-capture`), for a path only fragments take.
    fn fragment(&mut self, time: f64, sliced: &SlicedPacket, emit: &mut impl FnMut(Parsed)) {
        let key = match &sliced.net {
            Some(NetSlice::Ipv4(ip)) => Fragmented {
                source: IpAddr::V4(ip.header().source_addr()),
                destination: IpAddr::V4(ip.header().destination_addr()),
                id: u32::from(ip.header().identification()),
                carries: ip.payload().ip_number,
            },
            Some(NetSlice::Ipv6(ip)) => Fragmented {
                source: IpAddr::V6(ip.header().source_addr()),
                destination: IpAddr::V6(ip.header().destination_addr()),
                id: (ip.extensions().clone().into_iter())
                    .find_map(|ext| match ext {
                        Ipv6ExtensionSlice::Fragment(f) => Some(f.identification()),
                        _ => None,
                    })
                    .unwrap_or_default(),
                carries: ip.payload().ip_number,
            },
            _ => return,
        };
        self.summary.fragments += 1;
        if time - self.fragments_dropped_at >= 1.0 {
            self.drop_fragments(time - FRAGMENT_TIMEOUT_S);
            self.fragments_dropped_at = time;
        }
        match self.defrag.process_sliced_packet(sliced, time, ()) {
            Ok(Some(whole)) => {
                self.fragmented.remove(&key);
                self.summary.reassembled += 1;
                let transport = match whole.ip_number {
                    IpNumber::UDP => UdpSlice::from_slice(&whole.payload)
                        .ok()
                        .map(TransportSlice::Udp),
                    IpNumber::TCP => TcpSlice::from_slice(&whole.payload)
                        .ok()
                        .map(TransportSlice::Tcp),
                    _ => None,
                };
                self.transport(time, key.source, key.destination, &transport, emit);
                self.defrag.return_buf(whole);
            }
            // Kept by the pool until its last fragment comes, or dropped below; fragments
            // that do not fit together leave it incomplete until then.
            Ok(None) | Err(_) => {
                self.fragmented.insert(key, time);
                if self.fragmented.len() > MAX_FRAGMENTED {
                    self.drop_fragments(f64::INFINITY);
                }
            }
        }
    }

    /// Drops the fragmented datagrams whose last fragment came before `before`, as
    /// incomplete.
    fn drop_fragments(&mut self, before: f64) {
        let held = self.fragmented.len();
        self.fragmented.retain(|_, last| *last >= before);
        self.summary.incomplete_datagrams += (held - self.fragmented.len()) as u64;
        self.defrag.retain(|last| *last >= before);
    }

    /// Reads a UDP or TCP packet (or datagram put back together) between DNS ports.
    fn transport(
        &mut self,
        time: f64,
        source: IpAddr,
        destination: IpAddr,
        transport: &Option<TransportSlice>,
        emit: &mut impl FnMut(Parsed),
    ) {
        match transport {
            Some(TransportSlice::Udp(udp)) => {
                let (from, to) = (
                    (source, udp.source_port()),
                    (destination, udp.destination_port()),
                );
                if self.is_dns(from.1, to.1) {
                    self.message(time, from, to, false, udp.payload());
                }
            }
            Some(TransportSlice::Tcp(tcp)) => {
                let stream = Stream {
                    from: (source, tcp.source_port()),
                    to: (destination, tcp.destination_port()),
                };
                if !self.is_dns(stream.from.1, stream.to.1) {
                    return;
                }
                let messages = self.segment(
                    time,
                    stream,
                    tcp.sequence_number(),
                    tcp.syn(),
                    tcp.fin() || tcp.rst(),
                    tcp.payload(),
                );
                for message in messages {
                    self.message(time, stream.from, stream.to, true, &message);
                }
            }
            _ => {}
        }
        self.flush(time - ANSWER_TIMEOUT_S);
        self.release(time - ANSWER_TIMEOUT_S, emit);
    }

    /// Hands on the completed queries asked before `before`: every query still to come was
    /// asked later (pending ones are flushed once older than the answer timeout).
    fn release(&mut self, before: f64, emit: &mut impl FnMut(Parsed)) {
        while let Some(entry) = self.ready.first_entry() {
            if entry.key().0 >= before {
                break;
            }
            emit(Parsed::Query(entry.remove()));
        }
    }

    /// Adds a TCP segment to its stream and returns the DNS messages it completes.
    fn segment(
        &mut self,
        time: f64,
        stream: Stream,
        seq: u32,
        syn: bool,
        closing: bool,
        payload: &[u8],
    ) -> Vec<Vec<u8>> {
        if self.streams.len() >= MAX_STREAMS && !self.streams.contains_key(&stream) {
            // Forget the half heard from longest ago.
            let times = self.streams.values().map(|s| s.last_time).collect();
            let cut = crate::oldest_cut(times, 0.5);
            self.streams.retain(|_, s| s.last_time > cut);
        }
        let state = self.streams.entry(stream).or_default();
        state.last_time = time;
        if syn {
            state.next_seq = Some(seq.wrapping_add(1));
            state.bytes.clear();
            state.ahead.clear();
        }
        let seq = if syn { seq.wrapping_add(1) } else { seq };
        if !payload.is_empty() {
            // A stream joined midway starts at the first segment seen.
            let next = *state.next_seq.get_or_insert(seq);
            let behind = next.wrapping_sub(seq) as i32;
            if behind >= 0 {
                // In order, or a retransmission that may carry some new bytes.
                if let Some(new) = payload.get(behind as usize..) {
                    state.bytes.extend_from_slice(new);
                    state.next_seq = Some(next.wrapping_add(new.len() as u32));
                }
            } else {
                state.ahead.insert(seq, payload.to_vec());
            }
            // Segments that the new bytes reached, in order.
            while let Some(next) = state.next_seq {
                let Some((&first, _)) = state.ahead.iter().next() else {
                    break;
                };
                let behind = next.wrapping_sub(first) as i32;
                if behind < 0 {
                    break;
                }
                let segment = state.ahead.remove(&first).unwrap_or_default();
                if let Some(new) = segment.get(behind as usize..) {
                    state.bytes.extend_from_slice(new);
                    state.next_seq = Some(next.wrapping_add(new.len() as u32));
                }
            }
            let held: usize = state.ahead.values().map(Vec::len).sum();
            if held + state.bytes.len() > MAX_STREAM_BYTES {
                // A segment is lost for good: skip to what came after it.
                self.summary.tcp_gaps += (held + state.bytes.len()) as u64;
                state.bytes.clear();
                state.ahead.clear();
                state.next_seq = None;
            }
        }
        let mut messages = Vec::new();
        while state.bytes.len() >= 2 {
            let length = usize::from(u16::from_be_bytes([state.bytes[0], state.bytes[1]]));
            if state.bytes.len() < 2 + length {
                break;
            }
            messages.push(state.bytes[2..2 + length].to_vec());
            state.bytes.drain(..2 + length);
        }
        if closing {
            let left: usize = state.ahead.values().map(Vec::len).sum::<usize>() + state.bytes.len();
            self.summary.tcp_gaps += left as u64;
            self.streams.remove(&stream);
        }
        messages
    }

    /// Reads one DNS message: a query waits for its answer; an answer completes its query.
    fn message(
        &mut self,
        time: f64,
        from: (IpAddr, u16),
        to: (IpAddr, u16),
        tcp: bool,
        bytes: &[u8],
    ) {
        let Ok(packet) = simple_dns::Packet::parse(bytes) else {
            self.summary.malformed += 1;
            return;
        };
        self.summary.messages += 1;
        self.arrivals += 1;
        let Some(question) = packet.questions.first() else {
            return;
        };
        let answer = packet.has_flags(simple_dns::PacketFlag::RESPONSE);
        let (client, server) = if answer { (to, from) } else { (from, to) };
        let exchange = Exchange {
            client: client.0,
            client_port: client.1,
            server: server.0,
            server_port: server.1,
            tcp,
            id: packet.id(),
        };
        if !answer {
            while self.waiting >= MAX_PENDING {
                self.flush_oldest();
            }
            self.pending
                .entry(exchange)
                .or_default()
                .push_back(Pending {
                    time,
                    arrival: self.arrivals,
                    name: question.qname.to_string(),
                });
            self.waiting += 1;
            self.asked.push_back((time, exchange));
            return;
        }
        let rcode = rcode_name(packet.rcode() as u16);
        let digest = crate::key_of(bytes);
        if self.answered.len() >= MAX_PENDING {
            self.answered.clear();
        }
        let repeated = self.answered.insert(exchange, digest) == Some(digest);
        match self.take_pending(&exchange, None) {
            Some(query) => self.complete(query, client.0, Some(rcode)),
            None if repeated => self.summary.repeated_answers += 1,
            None => {
                self.summary.answers_without_query += 1;
                let query = Pending {
                    time,
                    arrival: self.arrivals,
                    name: question.qname.to_string(),
                };
                self.complete(query, client.0, Some(rcode));
            }
        }
    }

    /// Completes a query: it waits in `ready` for the queries asked before it.
    fn complete(&mut self, query: Pending, client: IpAddr, rcode: Option<String>) {
        let Pending {
            time,
            arrival,
            name,
        } = query;
        self.summary.queries += 1;
        if rcode.is_none() {
            self.summary.unanswered += 1;
        }
        let query = Query {
            timestamp: Some(format!("{time:.6}")),
            time: Some(time),
            client: Some(client.to_string()),
            name: name.trim_end_matches('.').to_owned(),
            rcode,
        };
        self.ready.insert(Ordered(time, arrival), query);
    }

    /// Completes the queries asked before `before` that are still unanswered.
    fn flush(&mut self, before: f64) {
        while let Some(&(asked, _)) = self.asked.front() {
            if asked >= before {
                break;
            }
            self.flush_oldest();
        }
    }

    fn flush_oldest(&mut self) {
        let Some((asked, exchange)) = self.asked.pop_front() else {
            return;
        };
        if let Some(query) = self.take_pending(&exchange, Some(asked)) {
            self.complete(query, exchange.client, None);
        }
    }

    fn is_dns(&self, a: u16, b: u16) -> bool {
        self.ports.contains(&a) || self.ports.contains(&b)
    }

    /// The oldest query waiting on `exchange`, if it was asked at `asked` (when given: the
    /// query may have been answered since).
    fn take_pending(&mut self, exchange: &Exchange, asked: Option<f64>) -> Option<Pending> {
        let queue = self.pending.get_mut(exchange)?;
        if asked.is_some_and(|t| queue.front().is_none_or(|q| q.time != t)) {
            return None;
        }
        let query = queue.pop_front();
        if queue.is_empty() {
            self.pending.remove(exchange);
        }
        self.waiting -= usize::from(query.is_some());
        query
    }
}

/// An answer code as Zeek's `rcode_name` writes it.
pub fn rcode_name(code: u16) -> String {
    let name = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        other => return format!("rcode-{other}"),
    };
    name.to_owned()
}
