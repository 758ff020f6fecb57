//! An index-addressed pool whose slots remember the generation of what they
//! hold: VPP's `pool_get` / `pool_put` / `pool_elt_at_index`, made
//! stale-safe. Freed indices are reused (lowest first, like VPP's pools, so
//! a manager's first segment is index 0 again after a re-add).

/// One slot: the value and the generation it was inserted with.
struct Slot<T> {
    generation: u32,
    value: T,
}

/// A pool of `T` addressed by `u32` index, each entry tagged with a
/// caller-chosen generation that lookups must match.
pub(crate) struct Pool<T> {
    slots: Vec<Option<Slot<T>>>,
    /// Free indices; the smallest is reused first.
    free: std::collections::BTreeSet<u32>,
    len: usize,
}

impl<T> Pool<T> {
    pub(crate) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: std::collections::BTreeSet::new(),
            len: 0,
        }
    }

    /// The index the next `insert` will use.
    pub(crate) fn next_index(&self) -> u32 {
        self.free
            .first()
            .copied()
            .unwrap_or(self.slots.len() as u32)
    }

    /// Inserts `value` tagged with `generation` at [`Pool::next_index`].
    pub(crate) fn insert(&mut self, generation: u32, value: T) -> u32 {
        let index = self.next_index();
        let slot = Some(Slot { generation, value });
        if let Some(i) = self.free.pop_first() {
            self.slots[i as usize] = slot;
        } else {
            self.slots.push(slot);
        }
        self.len += 1;
        index
    }

    /// The value at `index` whatever its generation.
    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        self.slot(index).map(|s| &s.value)
    }

    /// The generation of the value at `index`.
    pub(crate) fn generation(&self, index: u32) -> Option<u32> {
        self.slot(index).map(|s| s.generation)
    }

    /// The value at `index` if it was inserted with `generation`.
    pub(crate) fn get_checked(&self, index: u32, generation: u32) -> Option<&T> {
        self.slot(index)
            .filter(|s| s.generation == generation)
            .map(|s| &s.value)
    }

    /// Removes and returns the value at `index`.
    pub(crate) fn remove(&mut self, index: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?.take()?;
        self.free.insert(index);
        self.len -= 1;
        Some(slot.value)
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// `(index, generation, value)` of every live entry, by index.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s.generation, &s.value)))
    }

    /// Removes every entry, returning them by index.
    pub(crate) fn drain(&mut self) -> Vec<(u32, T)> {
        let mut out = Vec::with_capacity(self.len);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(s) = slot.take() {
                out.push((i as u32, s.value));
                self.free.insert(i as u32);
            }
        }
        self.len = 0;
        out
    }

    fn slot(&self, index: u32) -> Option<&Slot<T>> {
        self.slots.get(index as usize)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::Pool;

    #[test]
    fn reuses_lowest_index_and_checks_generation() {
        let mut p = Pool::new();
        assert_eq!(p.insert(1, "a"), 0);
        assert_eq!(p.insert(2, "b"), 1);
        assert_eq!(p.insert(3, "c"), 2);
        assert_eq!(p.remove(1), Some("b"));
        assert_eq!(p.remove(0), Some("a"));
        assert_eq!(p.remove(0), None);
        assert_eq!(p.len(), 1);
        assert_eq!(p.next_index(), 0);
        assert_eq!(p.insert(4, "d"), 0);
        assert_eq!(p.get_checked(0, 1), None);
        assert_eq!(p.get_checked(0, 4), Some(&"d"));
        assert_eq!(p.generation(2), Some(3));
        assert_eq!(p.get(1), None);
        assert_eq!(p.get(99), None);
        let all: Vec<_> = p.iter().map(|(i, g, v)| (i, g, *v)).collect();
        assert_eq!(all, vec![(0, 4, "d"), (2, 3, "c")]);
        assert_eq!(p.drain(), vec![(0, "d"), (2, "c")]);
        assert_eq!(p.len(), 0);
        assert_eq!(p.insert(5, "e"), 0);
    }
}
