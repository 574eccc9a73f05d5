//! The real captures of infected machines read as their Zeek logs read: the same queries, at
//! the same times, from the same clients, with the same answer codes.

use std::io::Read;
use std::path::PathBuf;

use dnswatch::capture::{CaptureSummary, read_capture};
use dnswatch::dnslog::{Format, Parsed, Parser};

fn infected() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let manifest = manifest.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.join("../../shared/data/infected")
}

fn gunzip(path: &PathBuf) -> Vec<u8> {
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("capture present"))
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// (time in microseconds, client, name, answer code) per query, sorted.
type Row = (i64, String, String, String);

fn rows_of(events: impl IntoIterator<Item = Parsed>) -> Vec<Row> {
    let mut rows: Vec<Row> = events
        .into_iter()
        .filter_map(|p| match p {
            Parsed::Query(q) => Some((
                (q.time.unwrap() * 1e6).round() as i64,
                q.client.unwrap_or_default(),
                q.name,
                q.rcode.unwrap_or_else(|| "-".into()),
            )),
            _ => None,
        })
        .collect();
    rows.sort();
    rows
}

fn capture_rows(bytes: &[u8]) -> (Vec<Row>, CaptureSummary) {
    let mut events = Vec::new();
    let summary = read_capture(bytes, |p| events.push(p)).expect("a capture");
    (rows_of(events), summary)
}

fn log_rows(path: &PathBuf) -> Vec<Row> {
    let text = String::from_utf8(gunzip(path)).unwrap();
    let mut parser = Parser::new(Format::Auto, None);
    rows_of(text.lines().map(|l| parser.parse(l)))
}

#[test]
fn real_captures_give_the_queries_of_their_zeek_logs() {
    for (capture, log) in [
        (
            "pcap/bedep-2015-10-12-angler.pcap.gz",
            "bedep-mta-2015-10-12-angler.from-pcap.log.gz",
        ),
        (
            "pcap/ramnit-2017-12-28-seamless-rig.pcap.gz",
            "ramnit-mta-2017-12-28-seamless-rig.from-pcap.log.gz",
        ),
    ] {
        let (rows, summary) = capture_rows(&gunzip(&infected().join(capture)));
        let expected = log_rows(&infected().join(log));
        eprintln!("{capture}: {}", summary.describe());
        for (a, b) in rows.iter().zip(&expected) {
            if a != b {
                eprintln!("{a:?}\n{b:?}\n");
            }
        }
        assert_eq!(rows.len(), expected.len(), "{capture}");
        assert_eq!(rows, expected, "{capture}");
    }
}

/// The DNS packets of a real capture: time, IPv4 addresses, ports and the DNS message.
struct Message {
    sec: u32,
    usec: u32,
    source: [u8; 4],
    destination: [u8; 4],
    ports: (u16, u16),
    dns: Vec<u8>,
}

/// The Ethernet frames of a classic pcap with their times.
fn frames(pcap: &[u8]) -> Vec<(u32, u32, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let word = |i: usize| u32::from_le_bytes(pcap[at + i..at + i + 4].try_into().unwrap());
        let (sec, usec, caplen) = (word(0), word(4), word(8) as usize);
        frames.push((sec, usec, pcap[at + 16..at + 16 + caplen].to_vec()));
        at += 16 + caplen;
    }
    frames
}

fn messages(pcap: &[u8]) -> Vec<Message> {
    let mut messages = Vec::new();
    for (sec, usec, frame) in frames(pcap) {
        let Ok(packet) = etherparse::SlicedPacket::from_ethernet(&frame) else {
            continue;
        };
        if let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Udp(udp))) =
            (&packet.net, &packet.transport)
            && (udp.source_port() == 53 || udp.destination_port() == 53)
        {
            messages.push(Message {
                sec,
                usec,
                source: ip.header().source_addr().octets(),
                destination: ip.header().destination_addr().octets(),
                ports: (udp.source_port(), udp.destination_port()),
                dns: udp.payload().to_vec(),
            });
        }
    }
    messages
}

fn pcap(linktype: u32, frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, linktype] {
        out.extend_from_slice(&word.to_le_bytes());
    }
    for (sec, usec, frame) in frames {
        for word in [*sec, *usec, frame.len() as u32, frame.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(frame);
    }
    out
}

/// A pcapng file: a section header, one interface (microsecond times) and enhanced packets.
fn pcapng(linktype: u16, frames: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let length = (12 + padded) as u32;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&length.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut section = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    section.extend_from_slice(&[1, 0, 0, 0]);
    section.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &section);
    let mut interface = linktype.to_le_bytes().to_vec();
    interface.extend_from_slice(&[0, 0]);
    interface.extend_from_slice(&65535u32.to_le_bytes());
    block(&mut out, 1, &interface);
    for (sec, usec, frame) in frames {
        let micros = u64::from(*sec) * 1_000_000 + u64::from(*usec);
        let mut body = Vec::new();
        for word in [
            0u32,
            (micros >> 32) as u32,
            micros as u32,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            body.extend_from_slice(&word.to_le_bytes());
        }
        body.extend_from_slice(frame);
        block(&mut out, 6, &body);
    }
    out
}

fn ipv4_udp(m: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ipv4(m.source, m.destination, 64)
        .udp(m.ports.0, m.ports.1)
        .write(&mut out, &m.dns)
        .unwrap();
    out
}

/// The client address of the IPv6 variant: the IPv4 address inside 2001:db8::/96.
fn v6(address: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    out[12..].copy_from_slice(&address);
    out
}

#[test]
fn link_layers_capture_formats_ipv6_and_tcp_give_the_same_queries() {
    let original = gunzip(&infected().join("pcap/bedep-2015-10-12-angler.pcap.gz"));
    let (expected, _) = capture_rows(&original);
    assert_eq!(expected.len(), 37);
    let messages = messages(&original);
    let with = |f: &dyn Fn(&Message) -> Vec<u8>| -> Vec<(u32, u32, Vec<u8>)> {
        messages.iter().map(|m| (m.sec, m.usec, f(m))).collect()
    };
    let ethernet = |m: &Message| {
        let mut out = vec![0u8; 12];
        out.extend_from_slice(&[0x08, 0x00]);
        out.extend_from_slice(&ipv4_udp(m));
        out
    };
    let vlan = |m: &Message| {
        let mut out = vec![0u8; 12];
        out.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a, 0x08, 0x00]);
        out.extend_from_slice(&ipv4_udp(m));
        out
    };
    let sll = |m: &Message| {
        let mut out = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        out.extend_from_slice(&ipv4_udp(m));
        out
    };
    let sll2 = |m: &Message| {
        let mut out = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        out.extend_from_slice(&ipv4_udp(m));
        out
    };
    for (what, file) in [
        (
            "pcapng, the capture's own frames",
            pcapng(1, &frames(&original)),
        ),
        ("Ethernet", pcap(1, &with(&ethernet))),
        ("802.1Q VLAN", pcap(1, &with(&vlan))),
        ("Linux cooked", pcap(113, &with(&sll))),
        ("Linux cooked v2", pcap(276, &with(&sll2))),
        ("raw IP", pcap(101, &with(&ipv4_udp))),
        ("raw IP in pcapng", pcapng(101, &with(&ipv4_udp))),
    ] {
        assert_eq!(capture_rows(&file).0, expected, "{what}");
    }

    let ipv6 = |m: &Message| {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ipv6(v6(m.source), v6(m.destination), 64)
            .udp(m.ports.0, m.ports.1)
            .write(&mut out, &m.dns)
            .unwrap();
        out
    };
    let expected_v6: Vec<Row> = expected
        .iter()
        .map(|(t, client, name, rcode)| {
            let address: std::net::Ipv4Addr = client.parse().unwrap();
            let client = std::net::Ipv6Addr::from(v6(address.octets())).to_string();
            (*t, client, name.clone(), rcode.clone())
        })
        .collect();
    let mut rows_v6 = capture_rows(&pcap(101, &with(&ipv6))).0;
    rows_v6.sort();
    let mut expected_v6 = expected_v6;
    expected_v6.sort();
    assert_eq!(rows_v6, expected_v6, "IPv6");

    // DNS over TCP: each message behind its two-byte length, split across two segments, the
    // answer's segments arriving in reverse order; each direction opened by a SYN.
    let mut tcp_frames = Vec::new();
    let mut next_seq: std::collections::HashMap<([u8; 4], u16, [u8; 4], u16), u32> =
        Default::default();
    for m in &messages {
        let mut segment = |seq: u32, syn: bool, payload: &[u8]| {
            let builder = etherparse::PacketBuilder::ipv4(m.source, m.destination, 64)
                .tcp(m.ports.0, m.ports.1, seq, 65535);
            let builder = if syn { builder.syn() } else { builder };
            let mut out = Vec::new();
            builder.write(&mut out, payload).unwrap();
            tcp_frames.push((m.sec, m.usec, out));
        };
        let key = (m.source, m.ports.0, m.destination, m.ports.1);
        let seq = match next_seq.get(&key) {
            Some(&seq) => seq,
            None => {
                segment(7_000, true, &[]);
                7_001
            }
        };
        let mut stream = (m.dns.len() as u16).to_be_bytes().to_vec();
        stream.extend_from_slice(&m.dns);
        let (first, second) = stream.split_at(5.min(stream.len()));
        let is_answer = m.ports.0 == 53;
        if is_answer {
            segment(seq + first.len() as u32, false, second);
            segment(seq, false, first);
        } else {
            segment(seq, false, first);
            segment(seq + first.len() as u32, false, second);
        }
        next_seq.insert(key, seq + stream.len() as u32);
    }
    let (rows_tcp, summary) = capture_rows(&pcap(101, &tcp_frames));
    assert_eq!(rows_tcp, expected, "TCP: {}", summary.describe());
}

/// A UDP datagram (header and DNS message) cut into IP fragments of `size` bytes (a multiple
/// of 8), each behind its own IPv4 or IPv6 header, raw IP.
fn fragments(m: &Message, id: u16, size: usize, ipv6: bool) -> Vec<Vec<u8>> {
    let datagram = ipv4_udp(m)[20..].to_vec();
    if ipv6 {
        // The UDP checksum covers the IPv6 addresses: take the datagram as built for them.
        let mut whole = Vec::new();
        etherparse::PacketBuilder::ipv6(v6(m.source), v6(m.destination), 64)
            .udp(m.ports.0, m.ports.1)
            .write(&mut whole, &m.dns)
            .unwrap();
        let datagram = whole[40..].to_vec();
        return (datagram.chunks(size).enumerate())
            .map(|(i, chunk)| {
                let offset = etherparse::IpFragOffset::try_new((i * size / 8) as u16).unwrap();
                let more = (i + 1) * size < datagram.len();
                let header = etherparse::Ipv6Header {
                    payload_length: (8 + chunk.len()) as u16,
                    next_header: etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER,
                    hop_limit: 64,
                    source: v6(m.source),
                    destination: v6(m.destination),
                    ..Default::default()
                };
                let fragment = etherparse::Ipv6FragmentHeader::new(
                    etherparse::IpNumber::UDP,
                    offset,
                    more,
                    u32::from(id),
                );
                let mut out = header.to_bytes().to_vec();
                out.extend_from_slice(&fragment.to_bytes());
                out.extend_from_slice(chunk);
                out
            })
            .collect();
    }
    (datagram.chunks(size).enumerate())
        .map(|(i, chunk)| {
            let mut header = etherparse::Ipv4Header::new(
                chunk.len() as u16,
                64,
                etherparse::IpNumber::UDP,
                m.source,
                m.destination,
            )
            .unwrap();
            header.identification = id;
            header.dont_fragment = false;
            header.more_fragments = (i + 1) * size < datagram.len();
            header.fragment_offset =
                etherparse::IpFragOffset::try_new((i * size / 8) as u16).unwrap();
            header.header_checksum = header.calc_header_checksum();
            let mut out = header.to_bytes().to_vec();
            out.extend_from_slice(chunk);
            out
        })
        .collect()
}

#[test]
fn dns_split_into_ip_fragments_is_put_back_together() {
    let original = gunzip(&infected().join("pcap/bedep-2015-10-12-angler.pcap.gz"));
    let (expected, _) = capture_rows(&original);
    let messages = messages(&original);
    for ipv6 in [false, true] {
        // Every message cut into 24-byte fragments; an answer's fragments arrive last first.
        let mut frames = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let mut parts = fragments(m, i as u16, 24, ipv6);
            if m.ports.0 == 53 {
                parts.reverse();
            }
            frames.extend(parts.into_iter().map(|f| (m.sec, m.usec, f)));
        }
        let (mut rows, summary) = capture_rows(&pcap(101, &frames));
        let version = if ipv6 { "IPv6" } else { "IPv4" };
        let split = messages.iter().filter(|m| 8 + m.dns.len() > 24).count();
        assert_eq!(split, messages.len(), "every message is split");
        assert_eq!(
            summary.reassembled as usize, split,
            "{version}: {summary:?}"
        );
        assert!(summary.fragments as usize > 2 * split, "{version}");
        assert_eq!(summary.incomplete_datagrams, 0, "{version}");
        let mut expected = expected.clone();
        if ipv6 {
            for row in &mut expected {
                let address: std::net::Ipv4Addr = row.1.parse().unwrap();
                row.1 = std::net::Ipv6Addr::from(v6(address.octets())).to_string();
            }
            rows.sort();
            expected.sort();
        }
        assert_eq!(rows, expected, "{version}: {}", summary.describe());
    }

    // The first answer over 64 bytes loses its last fragment: its query has no answer code,
    // and the datagram is said to be incomplete; every other query is read as before.
    let lost = (messages.iter())
        .position(|m| m.ports.0 == 53 && m.dns.len() + 8 > 64)
        .expect("an answer of more than one fragment");
    let mut frames = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let mut parts = fragments(m, i as u16, 64, false);
        if i == lost {
            parts.pop();
        }
        frames.extend(parts.into_iter().map(|f| (m.sec, m.usec, f)));
    }
    let (rows, summary) = capture_rows(&pcap(101, &frames));
    assert_eq!(summary.incomplete_datagrams, 1, "{}", summary.describe());
    assert!(
        summary
            .describe()
            .contains("1 fragmented datagrams left incomplete")
    );
    let differ: Vec<_> = rows.iter().zip(&expected).filter(|(a, b)| a != b).collect();
    assert_eq!(rows.len(), expected.len());
    assert_eq!(differ.len(), 1, "{differ:?}");
    assert_eq!(differ[0].0.3, "-");

    // The same fragment, 40 s after the capture's last packet: the datagram was dropped after
    // 30 s, so the late fragment starts another that never completes, and nothing else moves.
    let last = frames.last().unwrap().0;
    let late = fragments(&messages[lost], lost as u16, 64, false)
        .pop()
        .unwrap();
    frames.push((last + 40, 0, late));
    let (late_rows, summary) = capture_rows(&pcap(101, &frames));
    assert_eq!(summary.incomplete_datagrams, 2, "{}", summary.describe());
    assert_eq!(late_rows, rows);
}

#[test]
fn fragments_that_never_complete_are_dropped_and_counted() {
    let original = gunzip(&infected().join("pcap/bedep-2015-10-12-angler.pcap.gz"));
    let (expected, _) = capture_rows(&original);
    let messages = messages(&original);
    // 3,000 datagrams whose first fragment alone comes, all at the first message's time
    // (more than are held at once), then every message whole, cut in two.
    let first = &messages[0];
    let mut frames: Vec<_> = (0..3_000u16)
        .map(|id| {
            (
                first.sec,
                first.usec,
                fragments(first, 10_000 + id, 8, false)[0].clone(),
            )
        })
        .collect();
    for (i, m) in messages.iter().enumerate() {
        let parts = fragments(m, i as u16, 8 * (m.dns.len() / 16 + 1), false);
        frames.extend(parts.into_iter().map(|f| (m.sec, m.usec, f)));
    }
    let (rows, summary) = capture_rows(&pcap(101, &frames));
    assert_eq!(
        summary.incomplete_datagrams,
        3_000,
        "{}",
        summary.describe()
    );
    assert_eq!(summary.reassembled as usize, messages.len());
    assert_eq!(rows, expected);
}

#[test]
fn dns_on_a_port_of_its_own_is_read_when_named() {
    let original = gunzip(&infected().join("pcap/bedep-2015-10-12-angler.pcap.gz"));
    let (expected, _) = capture_rows(&original);
    // The resolver moved to 5335, as Unbound behind Pi-hole listens.
    let moved = |port: u16| if port == 53 { 5335 } else { port };
    let frames: Vec<_> = (messages(&original).iter())
        .map(|m| {
            let m = Message {
                ports: (moved(m.ports.0), moved(m.ports.1)),
                dns: m.dns.clone(),
                ..*m
            };
            (m.sec, m.usec, ipv4_udp(&m))
        })
        .collect();
    let file = pcap(101, &frames);
    let (rows, summary) = capture_rows(&file);
    assert!(rows.is_empty(), "{}", summary.describe());
    let ports = [&dnswatch::capture::DNS_PORTS[..], &[5335]].concat();
    let mut events = Vec::new();
    dnswatch::capture::read_capture_on(file.as_slice(), &ports, |p| events.push(p)).unwrap();
    assert_eq!(rows_of(events), expected);
}
