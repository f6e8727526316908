//! A CoreMark-style workload of the project's own: the kinds of work CoreMark times (linked-list
//! search and sort, small integer matrix arithmetic, a text-scanning state machine, CRC-16),
//! written here from scratch, so the twin's cycle model can be set against ARM's published
//! CoreMark/MHz ratio between the Cortex-M7 (5.01) and the Cortex-M4 (3.42): what matters is
//! the ratio of cycles per iteration on the two cores, not the absolute figure. Both cores run
//! the same source, each compiled for its own CPU (docs/time.md).

const NODES: usize = 48;
const N: usize = 10;

/// CRC-16/CCITT (polynomial 0x1021), bit by bit.
pub fn crc16(mut crc: u16, bytes: &[u8]) -> u16 {
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A singly linked list in an array: `next[i]` is the node after `i` (`NONE` ends it).
struct List {
    value: [i16; NODES],
    next: [u8; NODES],
    head: u8,
}

const NONE: u8 = u8::MAX;

impl List {
    fn new(seed: u32) -> List {
        let mut l = List {
            value: [0; NODES],
            next: [NONE; NODES],
            head: 0,
        };
        let mut x = seed | 1;
        for i in 0..NODES {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            l.value[i] = (x >> 16) as i16;
            l.next[i] = if i + 1 < NODES { (i + 1) as u8 } else { NONE };
        }
        l
    }

    fn find(&self, v: i16) -> Option<usize> {
        let mut i = self.head;
        while i != NONE {
            if self.value[usize::from(i)] & 0xFF == v & 0xFF {
                return Some(usize::from(i));
            }
            i = self.next[usize::from(i)];
        }
        None
    }

    fn reverse(&mut self) {
        let (mut prev, mut i) = (NONE, self.head);
        while i != NONE {
            let n = self.next[usize::from(i)];
            self.next[usize::from(i)] = prev;
            prev = i;
            i = n;
        }
        self.head = prev;
    }

    /// Insertion sort of the nodes by value, relinking (stable).
    fn sort(&mut self) {
        let mut sorted = NONE;
        let mut i = self.head;
        while i != NONE {
            let n = self.next[usize::from(i)];
            let v = self.value[usize::from(i)];
            if sorted == NONE || self.value[usize::from(sorted)] > v {
                self.next[usize::from(i)] = sorted;
                sorted = i;
            } else {
                let mut at = sorted;
                while self.next[usize::from(at)] != NONE
                    && self.value[usize::from(self.next[usize::from(at)])] <= v
                {
                    at = self.next[usize::from(at)];
                }
                self.next[usize::from(i)] = self.next[usize::from(at)];
                self.next[usize::from(at)] = i;
            }
            i = n;
        }
        self.head = sorted;
    }

    fn crc(&self, crc: u16) -> u16 {
        let mut crc = crc;
        let mut i = self.head;
        while i != NONE {
            crc = crc16(crc, &self.value[usize::from(i)].to_le_bytes());
            i = self.next[usize::from(i)];
        }
        crc
    }
}

/// Matrix work: C = A x B (i32 sums of i16 products), A += k, A x k, and a bit-field sum of C.
fn matrix(seed: u32, crc: u16) -> u16 {
    let mut a = [[0i16; N]; N];
    let mut b = [[0i16; N]; N];
    for i in 0..N {
        for j in 0..N {
            a[i][j] = ((seed as usize + i * 7 + j * 3) % 97) as i16 - 48;
            b[i][j] = ((seed as usize * 3 + i * 5 + j) % 89) as i16 - 44;
        }
    }
    let mut c = [[0i32; N]; N];
    for i in 0..N {
        for j in 0..N {
            let mut s = 0i32;
            for k in 0..N {
                s += i32::from(a[i][k]) * i32::from(b[k][j]);
            }
            c[i][j] = s;
        }
    }
    let k = (seed & 0xF) as i16 + 1;
    let mut bits = 0u32;
    for i in 0..N {
        for j in 0..N {
            a[i][j] = a[i][j].wrapping_add(k).wrapping_mul(k);
            bits = bits.wrapping_add(((c[i][j] as u32) >> 2) & 0x0F);
            bits = bits.wrapping_add(a[i][j] as u32);
        }
    }
    crc16(crc, &bits.to_le_bytes())
}

/// The states of a scanner of comma-separated numbers: `12`, `-3`, `4.5`, `6e7`, junk.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Start,
    Sign,
    Int,
    Frac,
    Exp,
    ExpDigits,
    Invalid,
}

fn scan(text: &[u8], crc: u16) -> u16 {
    let mut counts = [0u16; 7];
    let mut s = State::Start;
    let mut transitions = 0u16;
    for &ch in text.iter().chain(core::iter::once(&b',')) {
        let next = match (s, ch) {
            (_, b',') => {
                counts[s as usize] += 1;
                State::Start
            }
            (State::Start, b'+' | b'-') => State::Sign,
            (State::Start | State::Sign | State::Int, b'0'..=b'9') => State::Int,
            (State::Int, b'.') => State::Frac,
            (State::Frac, b'0'..=b'9') => State::Frac,
            (State::Int | State::Frac, b'e' | b'E') => State::Exp,
            (State::Exp, b'+' | b'-' | b'0'..=b'9') | (State::ExpDigits, b'0'..=b'9') => {
                State::ExpDigits
            }
            _ => State::Invalid,
        };
        if next != s {
            transitions += 1;
        }
        s = next;
    }
    let mut crc = crc16(crc, &transitions.to_le_bytes());
    for c in counts {
        crc = crc16(crc, &c.to_le_bytes());
    }
    crc
}

/// The scanner's input for an iteration: numbers and junk chosen by the seed.
fn text(seed: u32, out: &mut [u8; 96]) -> usize {
    const PIECES: [&[u8]; 8] = [
        b"5012",
        b"-874",
        b"+122",
        b"35.54",
        b"-.1",
        b"1.2e5",
        b"T0.3e-1F",
        b"-6E+12",
    ];
    let mut len = 0;
    let mut x = seed;
    while len < 80 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let p = PIECES[((x >> 16) & 7) as usize];
        out[len..len + p.len()].copy_from_slice(p);
        len += p.len();
        out[len] = b',';
        len += 1;
    }
    len
}

/// One iteration; returns its CRC.
pub fn iteration(seed: u32) -> u16 {
    let mut list = List::new(seed);
    let mut crc = 0xFFFF;
    for v in 0..16i16 {
        if let Some(i) = list.find(v.wrapping_mul(37)) {
            crc = crc16(crc, &[i as u8]);
        }
    }
    list.sort();
    crc = list.crc(crc);
    list.reverse();
    crc = list.crc(crc);
    crc = matrix(seed, crc);
    let mut buf = [0u8; 96];
    let n = text(seed, &mut buf);
    scan(&buf[..n], crc)
}

/// `iterations` iterations; returns the CRCs folded into one.
pub fn run(iterations: u32) -> u16 {
    let mut crc = 0;
    for i in 0..iterations {
        crc = crc16(crc, &iteration(core::hint::black_box(i)).to_le_bytes());
    }
    crc
}
