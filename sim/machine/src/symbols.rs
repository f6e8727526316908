//! Function symbols of a loaded image, for reports (`pc=0x... (main+0x12)`).

#[derive(Debug, Default, Clone)]
pub struct Symbols {
    /// (address with the Thumb bit cleared, size, name), sorted by address.
    entries: Vec<(u32, u32, String)>,
}

impl Symbols {
    /// Names are demangled (Rust `_ZN...`/`_R...` symbols) for reports.
    pub fn new(mut entries: Vec<(u32, u32, String)>) -> Symbols {
        for e in &mut entries {
            e.2 = format!("{:#}", rustc_demangle::demangle(&e.2));
        }
        entries.sort();
        Symbols { entries }
    }

    pub fn merge(&mut self, other: &Symbols) {
        self.entries.extend(other.entries.iter().cloned());
        self.entries.sort();
    }

    pub fn lookup(&self, pc: u32) -> Option<(&str, u32)> {
        let pc = pc & !1;
        let i = self.entries.partition_point(|(a, _, _)| *a <= pc);
        let (a, size, name) = self.entries.get(i.checked_sub(1)?)?;
        (pc - a < (*size).max(1)).then_some((name.as_str(), pc - a))
    }

    pub fn describe(&self, pc: u32) -> String {
        match self.lookup(pc) {
            Some((name, 0)) => name.to_string(),
            Some((name, off)) => format!("{name}+{off:#x}"),
            None => "no symbol".to_string(),
        }
    }

    pub fn address_of(&self, name: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|(_, _, n)| n == name)
            .map(|(a, _, _)| *a)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_inside_and_outside() {
        let s = Symbols::new(vec![(0x100, 0x20, "main".into()), (0x200, 4, "f".into())]);
        assert_eq!(s.describe(0x101), "main");
        assert_eq!(s.describe(0x112), "main+0x12");
        assert_eq!(s.describe(0x180), "no symbol");
        assert_eq!(s.address_of("f"), Some(0x200));
    }
}
