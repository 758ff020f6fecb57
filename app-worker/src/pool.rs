//! A generational pool: slab slots with a generation each, freed slots
//! reused oldest-first so a stale index stays unused as long as possible
//! (sessions record app worker indices without generations).

use std::collections::VecDeque;

/// Index-addressed storage with generations.
#[derive(Debug)]
pub(crate) struct GenPool<T> {
    slots: Vec<Slot<T>>,
    free: VecDeque<u32>,
    len: usize,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Default for GenPool<T> {
    fn default() -> Self {
        GenPool {
            slots: Vec::new(),
            free: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> GenPool<T> {
    /// The (index, generation) the next insert will use.
    pub(crate) fn next_key(&self) -> (u32, u32) {
        match self.free.front() {
            Some(&i) => (i, self.slots[i as usize].generation),
            None => (self.slots.len() as u32, 0),
        }
    }

    /// Inserts `value`; returns its (index, generation). `None` when the
    /// index space is exhausted.
    pub(crate) fn insert(&mut self, value: T) -> Option<(u32, u32)> {
        if let Some(i) = self.free.pop_front() {
            let slot = &mut self.slots[i as usize];
            slot.value = Some(value);
            self.len += 1;
            return Some((i, slot.generation));
        }
        let i = u32::try_from(self.slots.len())
            .ok()
            .filter(|i| *i < u32::MAX)?;
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        self.len += 1;
        Some((i, 0))
    }

    /// The value at `index`, whatever its generation.
    pub(crate) fn get(&self, index: u32) -> Option<&T> {
        self.slots.get(index as usize)?.value.as_ref()
    }

    /// The value at `index`, mutably, whatever its generation.
    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut T> {
        self.slots.get_mut(index as usize)?.value.as_mut()
    }

    /// The value at `index` if its generation is `generation`.
    pub(crate) fn get_checked(&self, index: u32, generation: u32) -> Option<&T> {
        let slot = self.slots.get(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_ref()
    }

    /// Mutable [`GenPool::get_checked`].
    pub(crate) fn get_checked_mut(&mut self, index: u32, generation: u32) -> Option<&mut T> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Generation of a live slot.
    pub(crate) fn generation(&self, index: u32) -> Option<u32> {
        let slot = self.slots.get(index as usize)?;
        slot.value.as_ref().map(|_| slot.generation)
    }

    /// Removes the value at `index` (checked) and retires its generation.
    pub(crate) fn remove(&mut self, index: u32, generation: u32) -> Option<T> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let v = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push_back(index);
        self.len -= 1;
        Some(v)
    }

    /// Live values.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Live values with their index and generation.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (i as u32, s.generation, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::GenPool;

    #[test]
    fn stale_generation_is_refused_and_reuse_is_oldest_first() {
        let mut p = GenPool::default();
        let (a, ga) = p.insert("a").unwrap();
        let (b, gb) = p.insert("b").unwrap();
        assert_eq!(p.remove(a, ga), Some("a"));
        assert_eq!(p.remove(a, ga), None);
        assert_eq!(p.remove(b, gb), Some("b"));
        assert_eq!(p.get_checked(a, ga), None);
        // a was freed first, so it is reused first, with a new generation.
        let (c, gc) = p.insert("c").unwrap();
        assert_eq!((c, gc), (a, ga + 1));
        assert_eq!(p.get_checked(a, ga), None);
        assert_eq!(p.get_checked(c, gc), Some(&"c"));
        assert_eq!(p.len(), 1);
        assert_eq!(p.next_key(), (b, gb + 1));
    }
}
