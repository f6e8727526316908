//! The host side of `pulseengine:async`: streams, futures, waitables and waitable sets for every
//! component of a system, with the semantics meld documents for each intrinsic:
//!
//! - `stream_read` copies what is buffered (a count > 0), returns 0 at end of stream (writer
//!   dropped and nothing buffered; sticky), and PENDING when nothing is there yet; a PENDING
//!   read registers interest.
//! - `stream_write` accepts what fits the bounded buffer (a short count is back-pressure and
//!   registers interest), CLOSED once the reader is gone.
//! - `future_read` returns 1 with the value, 0 while unresolved (interest), CLOSED when the
//!   writer dropped it unresolved; `future_write` is all-or-nothing.
//! - Interest turns into exactly one latched event on the waiting end when the other side makes
//!   progress (data, space, resolution, or a drop): STREAM_READ, STREAM_WRITE, FUTURE_READ. A
//!   waitable holds at most one latched event; the executor delivers it to the owner when the
//!   owner waits on (or polls) a set the waitable has joined.
//!
//! Handles are numbered from 1 across the system and owned by one component: using another
//! component's handle, or the wrong end, is INVALID_HANDLE. Buffer lengths are in bytes.

use std::collections::BTreeMap;

use crate::abi::{event, result};
use twin_hosting::hosted::host::HostMem;

pub type Comp = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    StreamRead(usize),
    StreamWrite(usize),
    FutureRead(usize),
    FutureWrite(usize),
}

#[derive(Debug, Clone)]
pub struct Handle {
    pub owner: Comp,
    pub end: End,
    /// A latched event: (code, payload).
    pub latched: Option<(u32, u32)>,
    /// The waitable set it has joined.
    pub set: Option<u32>,
}

/// Where a stream's ring of bytes lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Host memory: streams a component makes at run time with `stream_new`, and streams of a
    /// hub driven without an executor.
    Host(Vec<u8>),
    /// A ring at `base` in the reader's linear memory (producer and consumer on one core). The
    /// writer cannot reach another component's memory during its callback: its bytes wait in
    /// [`Hub::outbox`] and the executor stores them before anything else runs.
    Reader { base: u32 },
    /// A ring at `base` in shared OCRAM (cross-core): a header of four words (bytes written,
    /// bytes read, reader waiting, writer waiting; the writer owns the first, the reader the
    /// second) and then the data. Wake-ups cross as MU doorbells ([`Hub::doorbells`]).
    Ocram { base: u32, writer_side: usize },
}

/// Where cross-core stream rings start: OCRAM2 after the first 4 KiB (the NavState mailbox of
/// the hosted flight loop; rt1176.md section 1: the SDK's shared memory at 0x202C_0000).
pub const OCRAM_STREAMS: u32 = 0x202C_1000;
/// The end of OCRAM2.
pub const OCRAM_END: u32 = 0x2034_0000;
/// Capacity in bytes of the streams a component makes at run time with `stream_new`.
pub const DEFAULT_STREAM_CAPACITY: usize = 64;
/// Bytes of ring header in OCRAM.
pub const RING_HEADER: u32 = 16;

#[derive(Debug, Clone)]
pub struct Stream {
    pub name: String,
    pub capacity: usize,
    pub place: Place,
    /// Bytes written and read so far (free-running ring indices).
    pub written: u64,
    pub read: u64,
    pub reader: Option<u32>,
    pub writer: Option<u32>,
    pub read_interest: bool,
    pub write_interest: bool,
    /// The highest fill seen, for reports and the boundedness check.
    pub high_water: usize,
}

impl Stream {
    pub fn fill(&self) -> usize {
        (self.written - self.read) as usize
    }
    /// Bytes that went through.
    pub fn bytes_through(&self) -> u64 {
        self.written
    }
}

#[derive(Debug, Clone)]
pub struct Future {
    pub size: u32,
    pub value: Option<Vec<u8>>,
    pub reader: Option<u32>,
    pub writer: Option<u32>,
    pub read_interest: bool,
}

/// Counters of the wake-up protocol, per component (what the no-lost-wakeup check compares).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wakeups {
    /// Operations that registered interest (PENDING reads, short writes, unresolved futures).
    pub interests: u64,
    /// Events latched for them.
    pub latched: u64,
    /// Wake-ups that found an event already latched on the waitable and joined it (one event
    /// then answers two interests: the canonical ABI keeps one pending event per waitable).
    pub coalesced: u64,
    /// Events delivered to the component.
    pub delivered: u64,
}

#[derive(Debug, Default)]
pub struct Hub {
    pub handles: BTreeMap<u32, Handle>,
    next_handle: u32,
    pub streams: Vec<Stream>,
    pub futures: Vec<Future>,
    /// Waitable sets: id -> owner.
    pub sets: BTreeMap<u32, Comp>,
    next_set: u32,
    /// Capacity (bytes) of streams a component creates with `stream_new`.
    pub default_capacity: usize,
    /// Values each component passed to `[task-return]` (with the bytes at (ptr, len) for an
    /// (i32, i32) signature: strings and lists).
    pub returned: BTreeMap<Comp, (Vec<twin_hosting::wasm::Val>, Option<Vec<u8>>)>,
    pub wakeups: BTreeMap<Comp, Wakeups>,
    /// Latches in order (handle), for the executor to deliver.
    pub fresh: Vec<u32>,
    /// Bytes the executor must store into a reader's linear memory: (reader, address, bytes).
    pub outbox: Vec<(Comp, u32, Vec<u8>)>,
    /// MU doorbells to send: (sending MU side, word). Word = stream << 1 | 1 for the writer
    /// (space or reader gone), stream << 1 for the reader (data or writer gone).
    pub doorbells: Vec<(usize, u32)>,
    /// The shared OCRAM window from [`OCRAM_STREAMS`] that holds cross-core rings.
    pub ocram: Vec<u8>,
    /// Error contexts (`error-context.new`): handle -> (owner, debug message).
    pub error_contexts: BTreeMap<u32, (Comp, String)>,
    /// Test-only: drop every n-th latch (a deliberately broken host).
    pub sabotage_lose_every: Option<u64>,
    latch_count: u64,
}

impl Hub {
    pub fn new(default_capacity: usize) -> Hub {
        Hub {
            default_capacity,
            next_handle: 1,
            next_set: 1,
            ..Hub::default()
        }
    }

    fn new_handle(&mut self, owner: Comp, end: End) -> u32 {
        let h = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(
            h,
            Handle {
                owner,
                end,
                latched: None,
                set: None,
            },
        );
        h
    }

    /// A stream from `writer` to `reader` with `capacity` bytes (the system's wiring); returns
    /// (readable handle, writable handle).
    pub fn stream(
        &mut self,
        name: &str,
        writer: Comp,
        reader: Comp,
        capacity: usize,
    ) -> (u32, u32) {
        let id = self.streams.len();
        let r = self.new_handle(reader, End::StreamRead(id));
        let w = self.new_handle(writer, End::StreamWrite(id));
        self.streams.push(Stream {
            name: name.into(),
            capacity,
            place: Place::Host(vec![0; capacity]),
            written: 0,
            read: 0,
            reader: Some(r),
            writer: Some(w),
            read_interest: false,
            write_interest: false,
            high_water: 0,
        });
        (r, w)
    }

    /// A future from `writer` to `reader` of `size` bytes: (readable, writable).
    pub fn future(&mut self, writer: Comp, reader: Comp, size: u32) -> (u32, u32) {
        let id = self.futures.len();
        let r = self.new_handle(reader, End::FutureRead(id));
        let w = self.new_handle(writer, End::FutureWrite(id));
        self.futures.push(Future {
            size,
            value: None,
            reader: Some(r),
            writer: Some(w),
            read_interest: false,
        });
        (r, w)
    }

    fn end(&self, caller: Comp, h: u32) -> Option<End> {
        self.handles
            .get(&h)
            .filter(|x| x.owner == caller)
            .map(|x| x.end)
    }

    fn interest(&mut self, caller: Comp) {
        self.wakeups.entry(caller).or_default().interests += 1;
    }

    /// Latch one event on handle `h` for its owner.
    fn latch(&mut self, h: u32, code: u32, payload: u32) {
        self.latch_count += 1;
        if self
            .sabotage_lose_every
            .is_some_and(|n| self.latch_count % n == 0)
        {
            return;
        }
        if let Some(x) = self.handles.get_mut(&h) {
            let again = x.latched.replace((code, payload)).is_some();
            let owner = x.owner;
            let w = self.wakeups.entry(owner).or_default();
            if again {
                w.coalesced += 1;
            } else {
                w.latched += 1;
                self.fresh.push(h);
            }
        }
    }

    // ---- intrinsics (caller = the calling component) ----

    pub fn stream_new(&mut self, caller: Comp) -> i64 {
        let cap = self.default_capacity;
        let (r, w) = self.stream("stream_new", caller, caller, cap);
        (i64::from(w) << 32) | i64::from(r)
    }

    /// Move stream `id`'s ring into the reader's linear memory at `base` (before any data).
    pub fn place_in_reader(&mut self, id: usize, base: u32) {
        self.streams[id].place = Place::Reader { base };
    }

    /// Move stream `id`'s ring into shared OCRAM, its writer on MU side `writer_side`; the
    /// ring's address.
    pub fn place_in_ocram(&mut self, id: usize, writer_side: usize) -> Result<u32, String> {
        let s = &mut self.streams[id];
        let base = OCRAM_STREAMS + self.ocram.len() as u32;
        let size = (RING_HEADER as usize + s.capacity).next_multiple_of(4);
        if u64::from(base) + size as u64 > u64::from(OCRAM_END) {
            return Err(format!(
                "stream {}: OCRAM2 has no room for a ring of {} bytes at {base:#010x}",
                s.name, s.capacity
            ));
        }
        s.place = Place::Ocram { base, writer_side };
        self.ocram.resize(self.ocram.len() + size, 0);
        self.sync_header(id);
        Ok(base)
    }

    /// The OCRAM window's bytes at `addr`.
    pub fn ocram_at(&self, addr: u32, len: usize) -> Option<&[u8]> {
        let off = addr.checked_sub(OCRAM_STREAMS)? as usize;
        self.ocram.get(off..off + len)
    }

    /// Keep an OCRAM ring's header words equal to the stream's state.
    fn sync_header(&mut self, id: usize) {
        let s = &self.streams[id];
        if let Place::Ocram { base, .. } = s.place {
            let off = (base - OCRAM_STREAMS) as usize;
            let words = [
                s.written as u32,
                s.read as u32,
                u32::from(s.read_interest),
                u32::from(s.write_interest),
            ];
            for (i, w) in words.iter().enumerate() {
                self.ocram[off + 4 * i..off + 4 * i + 4].copy_from_slice(&w.to_le_bytes());
            }
        }
    }

    /// The (offset, length) pieces of `n` ring bytes from free-running index `at`.
    fn pieces(capacity: usize, at: u64, n: usize) -> impl Iterator<Item = (usize, usize)> {
        let first = (at % capacity as u64) as usize;
        let head = n.min(capacity - first);
        [(first, head), (0, n - head)]
            .into_iter()
            .filter(|&(_, len)| len > 0)
    }

    /// Store `data` at the ring's write index (the caller checked the room).
    fn ring_put(&mut self, id: usize, data: &[u8]) {
        let s = &mut self.streams[id];
        let reader = s.reader.and_then(|r| self.handles.get(&r)).map(|h| h.owner);
        let mut done = 0;
        for (off, len) in Self::pieces(s.capacity, s.written, data.len()) {
            let chunk = &data[done..done + len];
            match &mut s.place {
                Place::Host(ring) => ring[off..off + len].copy_from_slice(chunk),
                Place::Reader { base } => {
                    if let Some(comp) = reader {
                        self.outbox.push((comp, *base + off as u32, chunk.to_vec()));
                    }
                }
                Place::Ocram { base, .. } => {
                    let at = (*base - OCRAM_STREAMS + RING_HEADER) as usize + off;
                    self.ocram[at..at + len].copy_from_slice(chunk);
                }
            }
            done += len;
        }
        s.written += data.len() as u64;
        s.high_water = s.high_water.max(s.fill());
    }

    /// Copy `n` bytes from the ring's read index to the reader's memory at `ptr`.
    fn ring_take(
        &mut self,
        id: usize,
        n: usize,
        mem: &mut dyn HostMem,
        ptr: u32,
    ) -> Result<(), String> {
        let s = &mut self.streams[id];
        let mut done = 0u32;
        for (off, len) in Self::pieces(s.capacity, s.read, n) {
            let bytes = match &s.place {
                Place::Host(ring) => ring[off..off + len].to_vec(),
                Place::Reader { base } => mem.read(base + off as u32, len as u32)?,
                Place::Ocram { base, .. } => {
                    let at = (base - OCRAM_STREAMS + RING_HEADER) as usize + off;
                    self.ocram[at..at + len].to_vec()
                }
            };
            mem.write(ptr + done, &bytes)?;
            done += len as u32;
        }
        s.read += n as u64;
        Ok(())
    }

    /// Wake stream `id`'s reader (to_writer = false) or writer: a latched event on its end on
    /// the same core, a doorbell through the MU across cores.
    fn wake(&mut self, id: usize, to_writer: bool) {
        let s = &self.streams[id];
        match s.place {
            Place::Ocram { writer_side, .. } => {
                let from = if to_writer {
                    1 - writer_side
                } else {
                    writer_side
                };
                self.doorbells
                    .push((from, (id as u32) << 1 | u32::from(to_writer)));
            }
            _ => self.on_doorbell((id as u32) << 1 | u32::from(to_writer)),
        }
    }

    /// A doorbell arrived (or a same-core wake): latch the event on the end it names, with the
    /// stream's state now (bytes available to the reader; room for the writer, 0 once the
    /// reader is gone).
    pub fn on_doorbell(&mut self, word: u32) {
        let (id, to_writer) = ((word >> 1) as usize, word & 1 == 1);
        let Some(s) = self.streams.get(id) else {
            return;
        };
        if to_writer {
            let room = if s.reader.is_some() {
                s.capacity - s.fill()
            } else {
                0
            };
            if let Some(w) = s.writer {
                self.latch(w, event::STREAM_WRITE, room as u32);
            }
        } else if let Some(r) = s.reader {
            let avail = s.fill() as u32;
            self.latch(r, event::STREAM_READ, avail);
        }
    }

    /// `stream_read` into the caller's memory at `ptr`: a count, 0 at end of stream, or a code.
    pub fn stream_read(
        &mut self,
        caller: Comp,
        h: u32,
        mem: &mut dyn HostMem,
        ptr: u32,
        len: u32,
    ) -> Result<i32, String> {
        let Some(End::StreamRead(id)) = self.end(caller, h) else {
            return Ok(result::INVALID_HANDLE);
        };
        // Check the buffer before taking anything out of the stream.
        twin_hosting::hosted::host::check_range(ptr, len, mem.size())?;
        let s = &mut self.streams[id];
        if s.fill() == 0 {
            if s.writer.is_none() {
                return Ok(0);
            }
            s.read_interest = true;
            self.interest(caller);
            self.sync_header(id);
            return Ok(result::PENDING);
        }
        let n = (len as usize).min(s.fill());
        self.ring_take(id, n, mem, ptr)?;
        if n > 0 && std::mem::take(&mut self.streams[id].write_interest) {
            self.wake(id, true);
        }
        self.sync_header(id);
        Ok(n as i32)
    }

    /// `stream_write` from the caller's memory at `ptr`: bytes accepted or a code.
    pub fn stream_write(
        &mut self,
        caller: Comp,
        h: u32,
        mem: &mut dyn HostMem,
        ptr: u32,
        len: u32,
    ) -> Result<i32, String> {
        let Some(End::StreamWrite(id)) = self.end(caller, h) else {
            return Ok(result::INVALID_HANDLE);
        };
        let data = mem.read(ptr, len)?;
        let s = &mut self.streams[id];
        if s.reader.is_none() {
            return Ok(result::CLOSED);
        }
        let n = data.len().min(s.capacity - s.fill());
        self.ring_put(id, &data[..n]);
        let s = &mut self.streams[id];
        let wake = n > 0 && std::mem::take(&mut s.read_interest);
        if n < data.len() {
            s.write_interest = true;
            self.interest(caller);
        }
        if wake {
            self.wake(id, false);
        }
        self.sync_header(id);
        Ok(n as i32)
    }

    pub fn stream_cancel(&mut self, caller: Comp, h: u32, read: bool) -> i32 {
        let id = match (self.end(caller, h), read) {
            (Some(End::StreamRead(id)), true) | (Some(End::StreamWrite(id)), false) => id,
            _ => return result::INVALID_HANDLE,
        };
        let s = &mut self.streams[id];
        let flag = if read {
            &mut s.read_interest
        } else {
            &mut s.write_interest
        };
        let was = i32::from(std::mem::take(flag));
        self.sync_header(id);
        was
    }

    pub fn stream_drop(&mut self, caller: Comp, h: u32, readable: bool) -> Result<(), i32> {
        let id = match (self.end(caller, h), readable) {
            (Some(End::StreamRead(id)), true) | (Some(End::StreamWrite(id)), false) => id,
            _ => return Err(result::INVALID_HANDLE),
        };
        self.drop_handle(h);
        let s = &mut self.streams[id];
        let wake = if readable {
            s.reader = None;
            s.read = s.written;
            std::mem::take(&mut s.write_interest) && s.writer.is_some()
        } else {
            s.writer = None;
            std::mem::take(&mut s.read_interest) && s.reader.is_some()
        };
        if wake {
            self.wake(id, readable);
        }
        self.sync_header(id);
        Ok(())
    }

    pub fn future_new(&mut self, caller: Comp, size: u32) -> i64 {
        let (r, w) = self.future(caller, caller, size);
        (i64::from(w) << 32) | i64::from(r)
    }

    /// `future_read`: Ok(Some(value)) = 1, Ok(None) = 0 (pending), Err = code.
    pub fn future_read(&mut self, caller: Comp, h: u32) -> Result<Option<Vec<u8>>, i32> {
        let Some(End::FutureRead(id)) = self.end(caller, h) else {
            return Err(result::INVALID_HANDLE);
        };
        let f = &mut self.futures[id];
        match (&f.value, f.writer) {
            (Some(v), _) => Ok(Some(v.clone())),
            (None, None) => Err(result::CLOSED),
            (None, Some(_)) => {
                f.read_interest = true;
                self.interest(caller);
                Ok(None)
            }
        }
    }

    pub fn future_size(&self, caller: Comp, h: u32) -> Option<u32> {
        match self.end(caller, h) {
            Some(End::FutureRead(id) | End::FutureWrite(id)) => Some(self.futures[id].size),
            _ => None,
        }
    }

    pub fn future_write(&mut self, caller: Comp, h: u32, value: Vec<u8>) -> i32 {
        let Some(End::FutureWrite(id)) = self.end(caller, h) else {
            return result::INVALID_HANDLE;
        };
        let f = &mut self.futures[id];
        if f.reader.is_none() {
            return result::CLOSED;
        }
        if f.value.is_some() {
            return result::RUNTIME;
        }
        f.value = Some(value);
        if std::mem::take(&mut f.read_interest) {
            if let Some(r) = f.reader {
                self.latch(r, event::FUTURE_READ, 1);
            }
        }
        1
    }

    pub fn future_cancel(&mut self, caller: Comp, h: u32, read: bool) -> i32 {
        match (self.end(caller, h), read) {
            (Some(End::FutureRead(id)), true) => {
                i32::from(std::mem::take(&mut self.futures[id].read_interest))
            }
            (Some(End::FutureWrite(_)), false) => 0,
            _ => result::INVALID_HANDLE,
        }
    }

    pub fn future_drop(&mut self, caller: Comp, h: u32, readable: bool) -> Result<(), i32> {
        let id = match (self.end(caller, h), readable) {
            (Some(End::FutureRead(id)), true) | (Some(End::FutureWrite(id)), false) => id,
            _ => return Err(result::INVALID_HANDLE),
        };
        self.drop_handle(h);
        let f = &mut self.futures[id];
        if readable {
            f.reader = None;
        } else {
            f.writer = None;
            if f.value.is_none() && std::mem::take(&mut f.read_interest) {
                if let Some(r) = f.reader {
                    self.latch(r, event::FUTURE_READ, 0);
                }
            }
        }
        Ok(())
    }

    fn drop_handle(&mut self, h: u32) {
        self.handles.remove(&h);
        self.fresh.retain(|&x| x != h);
    }

    /// A new error context owned by `caller` carrying `message` (canonical ABI
    /// `error-context.new`); its handle, from the same space as the waitables'.
    pub fn error_context_new(&mut self, caller: Comp, message: String) -> u32 {
        let h = self.next_handle;
        self.next_handle += 1;
        self.error_contexts.insert(h, (caller, message));
        h
    }

    /// The debug message of `caller`'s error context `h`.
    pub fn error_context_message(&self, caller: Comp, h: u32) -> Option<&str> {
        match self.error_contexts.get(&h) {
            Some((owner, m)) if *owner == caller => Some(m),
            _ => None,
        }
    }

    /// Drop `caller`'s error context `h` (`error-context.drop`).
    pub fn error_context_drop(&mut self, caller: Comp, h: u32) -> Result<(), i32> {
        match self.error_contexts.get(&h) {
            Some((owner, _)) if *owner == caller => {
                self.error_contexts.remove(&h);
                Ok(())
            }
            _ => Err(result::INVALID_HANDLE),
        }
    }

    pub fn waitable_set_new(&mut self, caller: Comp) -> u32 {
        let s = self.next_set;
        self.next_set += 1;
        self.sets.insert(s, caller);
        s
    }

    /// Join `h` to `set` (0: leave any set).
    pub fn waitable_join(&mut self, caller: Comp, h: u32, set: u32) -> Result<(), i32> {
        if set != 0 && self.sets.get(&set) != Some(&caller) {
            return Err(result::INVALID_HANDLE);
        }
        match self.handles.get_mut(&h) {
            Some(x) if x.owner == caller => {
                x.set = (set != 0).then_some(set);
                Ok(())
            }
            _ => Err(result::INVALID_HANDLE),
        }
    }

    pub fn waitable_set_drop(&mut self, caller: Comp, set: u32) -> Result<(), i32> {
        if self.sets.get(&set) != Some(&caller) {
            return Err(result::INVALID_HANDLE);
        }
        if self.handles.values().any(|h| h.set == Some(set)) {
            // Canonical ABI: a set with members cannot be dropped.
            return Err(result::RUNTIME);
        }
        self.sets.remove(&set);
        Ok(())
    }

    /// Take the oldest latched event of a waitable in `set` owned by `caller`:
    /// (event code, handle, payload).
    pub fn take_event(&mut self, caller: Comp, set: u32) -> Option<(u32, u32, u32)> {
        let pos = self.fresh.iter().position(|h| {
            self.handles
                .get(h)
                .is_some_and(|x| x.owner == caller && x.set == Some(set) && x.latched.is_some())
        })?;
        let h = self.fresh.remove(pos);
        let (code, payload) = self
            .handles
            .get_mut(&h)
            .and_then(|x| x.latched.take())
            .expect("checked");
        self.wakeups.entry(caller).or_default().delivered += 1;
        Some((code, h, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use twin_hosting::hosted::host::VecMem;

    /// Write `data` through `w` from a scratch memory.
    fn put(hub: &mut Hub, comp: Comp, w: u32, data: &[u8]) -> i32 {
        let mut mem = VecMem(data.to_vec());
        hub.stream_write(comp, w, &mut mem, 0, data.len() as u32)
            .unwrap()
    }

    /// Read up to `len` bytes through `r`: the count (or code) and the bytes.
    fn get(hub: &mut Hub, comp: Comp, r: u32, len: u32) -> (i32, Vec<u8>) {
        let mut mem = VecMem(vec![0; len as usize]);
        let n = hub.stream_read(comp, r, &mut mem, 0, len).unwrap();
        mem.0.truncate(n.max(0) as usize);
        (n, mem.0)
    }

    #[test]
    fn stream_semantics_follow_meld() {
        let mut hub = Hub::new(8);
        let (r, w) = hub.stream("s", 0, 1, 4);
        // Nothing yet: PENDING, not EOF; the reader registered interest.
        assert_eq!(get(&mut hub, 1, r, 4).0, result::PENDING);
        // The wrong owner or the wrong end.
        assert_eq!(get(&mut hub, 0, r, 4).0, result::INVALID_HANDLE);
        assert_eq!(put(&mut hub, 0, r, &[1]), result::INVALID_HANDLE);
        // A write wakes the reader exactly once; back-pressure at capacity.
        assert_eq!(put(&mut hub, 0, w, &[1, 2, 3, 4, 5, 6]), 4);
        assert_eq!(hub.fresh, vec![r]);
        assert_eq!(hub.handles[&r].latched, Some((event::STREAM_READ, 4)));
        assert_eq!(
            put(&mut hub, 0, w, &[7]),
            0,
            "full: a zero count is back-pressure"
        );
        assert_eq!(
            hub.fresh.len(),
            1,
            "no second wake-up without a second interest"
        );
        // Reading makes room and wakes the writer once; the ring wraps.
        assert_eq!(get(&mut hub, 1, r, 3), (3, vec![1, 2, 3]));
        assert_eq!(hub.handles[&w].latched, Some((event::STREAM_WRITE, 3)));
        assert_eq!(put(&mut hub, 0, w, &[8, 9]), 2);
        assert_eq!(get(&mut hub, 1, r, 8), (3, vec![4, 8, 9]));
        // Writer gone: EOF (0 bytes), sticky; writes to a dropped reader are CLOSED.
        hub.stream_drop(0, w, false).unwrap();
        assert_eq!(get(&mut hub, 1, r, 8), (0, vec![]));
        assert_eq!(get(&mut hub, 1, r, 8), (0, vec![]));
        let (r2, w2) = hub.stream("t", 0, 1, 4);
        hub.stream_drop(1, r2, true).unwrap();
        assert_eq!(put(&mut hub, 0, w2, &[1]), result::CLOSED);
        let w = &hub.wakeups;
        assert_eq!(w[&1].interests, 1);
        assert_eq!(w[&0].interests, 2, "two short writes");
        // A buffer outside the reader's memory is a trap, and takes nothing from the stream.
        let (r3, w3) = hub.stream("u", 0, 1, 4);
        put(&mut hub, 0, w3, &[5]);
        let mut small = VecMem(vec![0; 2]);
        assert!(hub.stream_read(1, r3, &mut small, 1, 4).is_err());
        assert_eq!(get(&mut hub, 1, r3, 4), (1, vec![5]));
    }

    #[test]
    fn cross_core_rings_live_in_ocram_and_wake_through_doorbells() {
        let mut hub = Hub::new(8);
        let (r, w) = hub.stream("nav", 0, 1, 8);
        let base = hub.place_in_ocram(0, 0).unwrap();
        assert_eq!(base, OCRAM_STREAMS);
        assert_eq!(get(&mut hub, 1, r, 8).0, result::PENDING);
        // Header: written 0, read 0, reader waiting.
        assert_eq!(hub.ocram_at(base, 16).unwrap()[8..12], [1, 0, 0, 0]);
        assert_eq!(put(&mut hub, 0, w, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 8);
        // No latch yet: a doorbell from side 0 names the stream for the reader.
        assert!(hub.fresh.is_empty());
        assert_eq!(hub.doorbells, vec![(0, 0)]);
        assert_eq!(
            hub.ocram_at(base + 16, 8).unwrap(),
            &[1, 2, 3, 4, 5, 6, 7, 8]
        );
        assert_eq!(
            hub.ocram_at(base, 16).unwrap(),
            &[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
            "written 8, read 0, reader no longer waiting, writer waiting"
        );
        hub.on_doorbell(hub.doorbells[0].1);
        assert_eq!(hub.handles[&r].latched, Some((event::STREAM_READ, 8)));
        // Reading frees room: the doorbell for the writer goes from side 1.
        assert_eq!(get(&mut hub, 1, r, 4), (4, vec![1, 2, 3, 4]));
        assert_eq!(hub.doorbells[1], (1, 1));
        hub.on_doorbell(1);
        assert_eq!(hub.handles[&w].latched, Some((event::STREAM_WRITE, 4)));
        // Wrapping in OCRAM.
        assert_eq!(put(&mut hub, 0, w, &[11, 12, 13]), 3);
        assert_eq!(hub.ocram_at(base + 16, 3).unwrap(), &[11, 12, 13]);
        assert_eq!(get(&mut hub, 1, r, 8), (7, vec![5, 6, 7, 8, 11, 12, 13]));
        // A second ring starts after the first one's header and data.
        hub.stream("b", 0, 1, 4);
        assert_eq!(hub.place_in_ocram(1, 0).unwrap(), base + 16 + 8);
    }

    #[test]
    fn futures_resolve_once_and_waitable_sets_deliver_latches() {
        let mut hub = Hub::new(8);
        let (r, w) = hub.future(0, 1, 4);
        assert_eq!(hub.future_read(1, r), Ok(None));
        let set = hub.waitable_set_new(1);
        assert_eq!(hub.waitable_join(0, r, set), Err(result::INVALID_HANDLE));
        hub.waitable_join(1, r, set).unwrap();
        assert_eq!(hub.take_event(1, set), None);
        assert_eq!(hub.future_write(0, w, vec![1, 2, 3, 4]), 1);
        assert_eq!(hub.future_write(0, w, vec![5, 6, 7, 8]), result::RUNTIME);
        assert_eq!(hub.take_event(1, set), Some((event::FUTURE_READ, r, 1)));
        assert_eq!(hub.take_event(1, set), None, "one event per resolution");
        assert_eq!(hub.future_read(1, r), Ok(Some(vec![1, 2, 3, 4])));
        assert_eq!(hub.waitable_set_drop(1, set), Err(result::RUNTIME));
        hub.waitable_join(1, r, 0).unwrap();
        hub.waitable_set_drop(1, set).unwrap();
        // Dropped unresolved: CLOSED, and a waiting reader is woken.
        let (r, w) = hub.future(0, 1, 4);
        assert_eq!(hub.future_read(1, r), Ok(None));
        hub.future_drop(0, w, false).unwrap();
        assert_eq!(hub.future_read(1, r), Err(result::CLOSED));
        assert_eq!(hub.handles[&r].latched, Some((event::FUTURE_READ, 0)));
    }
}
