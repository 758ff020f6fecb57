//! A generational pool: slots addressed by index, each with a generation
//! bumped on free, so a stale [`CtConnId`] never reaches the object that
//! reused its slot (VPP's `pool_get` / `pool_put` plus what Rust adds).

/// Names a ct connection in one thread's pool (or the half-open or listener
/// pool): its index and the generation of the slot when it was allocated.
/// It is the session layer's [`ct_session::TransportConnId`] itself, so the
/// id a session holds is the id the pool checks, with no translation.
pub type CtConnId = ct_session::TransportConnId;

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Index-addressed storage with per-slot generations and index reuse.
#[derive(Debug)]
pub(crate) struct Pool<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Pool<T> {
    /// Inserts the value `make` builds from its id.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(CtConnId) -> T) -> CtConnId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let id = CtConnId {
            index,
            generation: slot.generation,
        };
        slot.value = Some(make(id));
        self.len += 1;
        id
    }

    /// The live value at `id`, if its generation still matches.
    pub(crate) fn get(&self, id: CtConnId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_ref()
    }

    /// Mutable access, same checks as [`Pool::get`].
    pub(crate) fn get_mut(&mut self, id: CtConnId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// Frees `id`'s slot and returns its value; stale ids get `None`.
    pub(crate) fn remove(&mut self, id: CtConnId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let v = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(v)
    }

    /// Live values.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Live values with their ids, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (CtConnId, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.value.as_ref().map(|v| {
                (
                    CtConnId {
                        index: i as u32,
                        generation: s.generation,
                    },
                    v,
                )
            })
        })
    }

    /// Bytes of bookkeeping the pool holds (slots and free list).
    pub(crate) fn footprint(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<T>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_miss_reused_slots() {
        let mut p = Pool::default();
        let a = p.insert_with(|id| id.index * 10);
        assert_eq!(p.get(a), Some(&0));
        assert_eq!(p.remove(a), Some(0));
        assert_eq!(p.remove(a), None);
        let b = p.insert_with(|_| 7);
        assert_eq!(b.index, a.index);
        assert_ne!(b.generation, a.generation);
        assert_eq!(p.get(a), None);
        assert_eq!(p.get(b), Some(&7));
        assert_eq!(p.len(), 1);
    }
}
