//! The set of tables behind [`super::SessionLookup`]'s lock: global tables
//! by (family, fib index) and local tables in generation-checked slots.

use hashbrown::HashMap;

use super::table::SessionTable;
use super::{LocalTableId, TableId};
use crate::SessionError;
use crate::endpoint::FibProto;

/// A local table slot; the generation moves on each free so ids of freed
/// tables stop matching.
#[derive(Debug)]
struct LocalSlot {
    generation: u32,
    table: Option<SessionTable>,
}

#[derive(Debug, Default)]
pub(super) struct Tables {
    fib: HashMap<(FibProto, u32), SessionTable>,
    local: Vec<LocalSlot>,
    free_local: Vec<u32>,
}

/// VPP's `~0` fib index, which names no fib.
const INVALID_FIB_INDEX: u32 = u32::MAX;

impl Tables {
    pub(super) fn fib_table(&self, fib_proto: FibProto, fib_index: u32) -> Option<&SessionTable> {
        self.fib.get(&(fib_proto, fib_index))
    }

    pub(super) fn fib_table_existing_mut(
        &mut self,
        fib_proto: FibProto,
        fib_index: u32,
    ) -> Option<&mut SessionTable> {
        self.fib.get_mut(&(fib_proto, fib_index))
    }

    /// The fib's table, allocated on first use.
    pub(super) fn fib_table_mut(
        &mut self,
        fib_proto: FibProto,
        fib_index: u32,
    ) -> Result<&mut SessionTable, SessionError> {
        if fib_index == INVALID_FIB_INDEX {
            return Err(SessionError::Invalid);
        }
        Ok(self.fib.entry((fib_proto, fib_index)).or_default())
    }

    pub(super) fn alloc_local(&mut self) -> Result<LocalTableId, SessionError> {
        let index = match self.free_local.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.local.len()).map_err(|_| SessionError::Alloc)?;
                self.local.push(LocalSlot {
                    generation: 0,
                    table: None,
                });
                index
            }
        };
        let slot = &mut self.local[index as usize];
        slot.table = Some(SessionTable::default());
        Ok(LocalTableId {
            index,
            generation: slot.generation,
        })
    }

    fn local_slot(&self, id: LocalTableId) -> Option<&LocalSlot> {
        self.local
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
    }

    pub(super) fn local(&self, id: LocalTableId) -> Result<&SessionTable, SessionError> {
        self.local_slot(id)
            .and_then(|s| s.table.as_ref())
            .ok_or(SessionError::InvalidNs)
    }

    pub(super) fn local_mut(
        &mut self,
        id: LocalTableId,
    ) -> Result<&mut SessionTable, SessionError> {
        self.local
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .and_then(|s| s.table.as_mut())
            .ok_or(SessionError::InvalidNs)
    }

    pub(super) fn free_local(&mut self, id: LocalTableId) -> Result<(), SessionError> {
        self.local_mut(id)?;
        let slot = &mut self.local[id.index as usize];
        slot.table = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free_local.push(id.index);
        Ok(())
    }

    /// Any table by id: `Ok(None)` for a fib without a table, an error for
    /// a stale local id.
    pub(super) fn table(&self, id: TableId) -> Result<Option<&SessionTable>, SessionError> {
        match id {
            TableId::Fib {
                fib_proto,
                fib_index,
            } => Ok(self.fib_table(fib_proto, fib_index)),
            TableId::Local(local) => self.local(local).map(Some),
        }
    }

    /// Any table by id, allocating a fib's table on first use.
    pub(super) fn table_mut(&mut self, id: TableId) -> Result<&mut SessionTable, SessionError> {
        match id {
            TableId::Fib {
                fib_proto,
                fib_index,
            } => self.fib_table_mut(fib_proto, fib_index),
            TableId::Local(local) => self.local_mut(local),
        }
    }

    fn all(&self) -> impl Iterator<Item = &SessionTable> {
        self.fib
            .values()
            .chain(self.local.iter().filter_map(|s| s.table.as_ref()))
    }

    pub(super) fn listener_count(&self) -> usize {
        self.all().map(SessionTable::listener_count).sum()
    }

    pub(super) fn rule_count(&self) -> usize {
        self.all().map(SessionTable::rule_count).sum()
    }

    pub(super) fn local_count(&self) -> usize {
        self.local.iter().filter(|s| s.table.is_some()).count()
    }
}
