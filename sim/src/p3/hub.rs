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

use super::abi::{event, result};

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

#[derive(Debug, Clone)]
pub struct Stream {
    pub name: String,
    pub capacity: usize,
    pub buf: std::collections::VecDeque<u8>,
    pub reader: Option<u32>,
    pub writer: Option<u32>,
    pub read_interest: bool,
    pub write_interest: bool,
    /// Totals, for reports and the lost-wakeup checks.
    pub bytes_through: u64,
    pub high_water: usize,
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
    pub returned: BTreeMap<Comp, (Vec<crate::wasm::Val>, Option<Vec<u8>>)>,
    pub wakeups: BTreeMap<Comp, Wakeups>,
    /// Latches in order (handle), for the executor to deliver.
    pub fresh: Vec<u32>,
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
            buf: Default::default(),
            reader: Some(r),
            writer: Some(w),
            read_interest: false,
            write_interest: false,
            bytes_through: 0,
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
            x.latched = Some((code, payload));
            let owner = x.owner;
            self.wakeups.entry(owner).or_default().latched += 1;
            self.fresh.push(h);
        }
    }

    // ---- intrinsics (caller = the calling component) ----

    pub fn stream_new(&mut self, caller: Comp) -> i64 {
        let cap = self.default_capacity;
        let (r, w) = self.stream("stream_new", caller, caller, cap);
        (i64::from(w) << 32) | i64::from(r)
    }

    /// `stream_read`: `take(n)` hands the caller's buffer the first n buffered bytes.
    pub fn stream_read(&mut self, caller: Comp, h: u32, len: u32) -> Result<Vec<u8>, i32> {
        let Some(End::StreamRead(id)) = self.end(caller, h) else {
            return Err(result::INVALID_HANDLE);
        };
        let s = &mut self.streams[id];
        if s.buf.is_empty() {
            if s.writer.is_none() {
                return Ok(Vec::new());
            }
            s.read_interest = true;
            self.interest(caller);
            return Err(result::PENDING);
        }
        let n = (len as usize).min(s.buf.len());
        let data: Vec<u8> = s.buf.drain(..n).collect();
        if n > 0 && std::mem::take(&mut s.write_interest) {
            if let Some(w) = s.writer {
                let space = (s.capacity - s.buf.len()) as u32;
                self.latch(w, event::STREAM_WRITE, space);
            }
        }
        Ok(data)
    }

    pub fn stream_write(&mut self, caller: Comp, h: u32, data: &[u8]) -> i32 {
        let Some(End::StreamWrite(id)) = self.end(caller, h) else {
            return result::INVALID_HANDLE;
        };
        let s = &mut self.streams[id];
        if s.reader.is_none() {
            return result::CLOSED;
        }
        let n = data.len().min(s.capacity - s.buf.len());
        s.buf.extend(&data[..n]);
        s.bytes_through += n as u64;
        s.high_water = s.high_water.max(s.buf.len());
        let short = n < data.len();
        let wake = n > 0 && std::mem::take(&mut s.read_interest);
        let (reader, avail) = (s.reader, s.buf.len() as u32);
        if short {
            s.write_interest = true;
            self.interest(caller);
        }
        if let (true, Some(r)) = (wake, reader) {
            self.latch(r, event::STREAM_READ, avail);
        }
        n as i32
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
        i32::from(std::mem::take(flag))
    }

    pub fn stream_drop(&mut self, caller: Comp, h: u32, readable: bool) -> Result<(), i32> {
        let id = match (self.end(caller, h), readable) {
            (Some(End::StreamRead(id)), true) | (Some(End::StreamWrite(id)), false) => id,
            _ => return Err(result::INVALID_HANDLE),
        };
        self.drop_handle(h);
        let s = &mut self.streams[id];
        if readable {
            s.reader = None;
            s.buf.clear();
            if std::mem::take(&mut s.write_interest) {
                if let Some(w) = s.writer {
                    self.latch(w, event::STREAM_WRITE, 0);
                }
            }
        } else {
            s.writer = None;
            if std::mem::take(&mut s.read_interest) {
                if let Some(r) = s.reader {
                    self.latch(r, event::STREAM_READ, 0);
                }
            }
        }
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

    #[test]
    fn stream_semantics_follow_meld() {
        let mut hub = Hub::new(8);
        let (r, w) = hub.stream("s", 0, 1, 4);
        // Nothing yet: PENDING, not EOF; the reader registered interest.
        assert_eq!(hub.stream_read(1, r, 4), Err(result::PENDING));
        // The wrong owner or the wrong end.
        assert_eq!(hub.stream_read(0, r, 4), Err(result::INVALID_HANDLE));
        assert_eq!(hub.stream_write(0, r, &[1]), result::INVALID_HANDLE);
        // A write wakes the reader exactly once; back-pressure at capacity.
        assert_eq!(hub.stream_write(0, w, &[1, 2, 3, 4, 5, 6]), 4);
        assert_eq!(hub.fresh, vec![r]);
        assert_eq!(hub.handles[&r].latched, Some((event::STREAM_READ, 4)));
        assert_eq!(
            hub.stream_write(0, w, &[7]),
            0,
            "full: a zero count is back-pressure"
        );
        assert_eq!(
            hub.fresh.len(),
            1,
            "no second wake-up without a second interest"
        );
        // Reading makes room and wakes the writer once.
        assert_eq!(hub.stream_read(1, r, 3), Ok(vec![1, 2, 3]));
        assert_eq!(hub.handles[&w].latched, Some((event::STREAM_WRITE, 3)));
        assert_eq!(hub.stream_read(1, r, 8), Ok(vec![4]));
        // Writer gone: EOF (0 bytes), sticky; writes to a dropped reader are CLOSED.
        hub.stream_drop(0, w, false).unwrap();
        assert_eq!(hub.stream_read(1, r, 8), Ok(vec![]));
        assert_eq!(hub.stream_read(1, r, 8), Ok(vec![]));
        let (r2, w2) = hub.stream("t", 0, 1, 4);
        hub.stream_drop(1, r2, true).unwrap();
        assert_eq!(hub.stream_write(0, w2, &[1]), result::CLOSED);
        let w = &hub.wakeups;
        assert_eq!(w[&1].interests, 1);
        assert_eq!(w[&0].interests, 2, "two short writes");
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
