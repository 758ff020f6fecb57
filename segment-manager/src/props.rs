//! Segment-manager properties (VPP `segment_manager_props_t`) and flags.

/// Where a manager's segments get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SegmentBacking {
    /// memfd shared memory that another process can map (the real thing).
    /// Under `cfg(loom)` this falls back to [`SegmentBacking::Heap`]: loom's
    /// atomics cannot overlay a mapping.
    #[default]
    Memfd,
    /// A heap buffer: process-private (tests that want an
    /// allocator-checked backing, loom models).
    Heap,
}

/// Default rx/tx fifo size (VPP `default_fifo_size`, 4 KiB); smaller
/// requests are rounded up to it.
pub const DEFAULT_FIFO_SIZE: u32 = 4 << 10;
/// Default segment size (VPP `default_segment_size`, 1 MiB).
pub const DEFAULT_SEGMENT_SIZE: usize = 1 << 20;

/// Properties of a segment manager, fixed when it is allocated (VPP
/// `segment_manager_props_t`, the app's attach options).
///
/// ```
/// use ct_segment_manager::SegmentManagerProps;
///
/// let props = SegmentManagerProps {
///     rx_fifo_size: 64 << 10,
///     tx_fifo_size: 64 << 10,
///     add_segment: true,
///     ..SegmentManagerProps::default()
/// };
/// assert_eq!(props.fifo_pair_bytes(), 128 << 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentManagerProps {
    /// Size of the first segment (`init_first`); at least
    /// [`DEFAULT_SEGMENT_SIZE`] is used there, as VPP does.
    pub segment_size: usize,
    /// Size of segments added later without an explicit size.
    pub add_segment_size: usize,
    /// Receive fifo size of a session's pair (rounded up to
    /// [`DEFAULT_FIFO_SIZE`], then to a power of two by the segment).
    pub rx_fifo_size: u32,
    /// Transmit fifo size of a session's pair.
    pub tx_fifo_size: u32,
    /// May the manager add segments when the ones it has are full?
    pub add_segment: bool,
    /// Upper bound on live segments (`None`: no bound). Reaching it makes
    /// adds fail with [`SmError::MaxSegments`](crate::SmError::MaxSegments)
    /// and allocation fail with `SegNoSpace`.
    pub max_segments: Option<u32>,
    /// Fifo pairs to preallocate in `init_first` (VPP `prealloc_fifos`):
    /// their memory is carved out and parked on the slices' free lists, and
    /// the segments are flagged preallocated (kept while attached even when
    /// empty).
    pub prealloc_fifos: u32,
    /// Memory behind new segments.
    pub backing: SegmentBacking,
}

impl Default for SegmentManagerProps {
    fn default() -> Self {
        Self {
            segment_size: DEFAULT_SEGMENT_SIZE,
            add_segment_size: DEFAULT_SEGMENT_SIZE,
            rx_fifo_size: DEFAULT_FIFO_SIZE,
            tx_fifo_size: DEFAULT_FIFO_SIZE,
            add_segment: false,
            max_segments: None,
            prealloc_fifos: 0,
            backing: SegmentBacking::Memfd,
        }
    }
}

impl SegmentManagerProps {
    /// The rx fifo size allocations use (VPP clamps to the default).
    pub fn effective_rx_fifo_size(&self) -> u32 {
        self.rx_fifo_size.max(DEFAULT_FIFO_SIZE)
    }

    /// The tx fifo size allocations use.
    pub fn effective_tx_fifo_size(&self) -> u32 {
        self.tx_fifo_size.max(DEFAULT_FIFO_SIZE)
    }

    /// Data bytes of one rx + tx pair, as configured (what VPP compares
    /// segments' free bytes against).
    pub fn fifo_pair_bytes(&self) -> usize {
        self.effective_rx_fifo_size() as usize + self.effective_tx_fifo_size() as usize
    }
}

bitflags::bitflags! {
    /// Segment-manager flags (VPP `seg_manager_flag_t`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct SmFlags: u8 {
        /// The owner detached: no more notifications, free once empty.
        const DETACHED = 1 << 0;
        /// A listener's manager whose listener went away while sessions
        /// still used it (the owner cleans it up on free).
        const DETACHED_LISTENER = 1 << 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_vpp() {
        let p = SegmentManagerProps::default();
        assert_eq!(p.segment_size, 1 << 20);
        assert_eq!(p.rx_fifo_size, 4096);
        assert!(!p.add_segment);
        assert_eq!(p.backing, SegmentBacking::Memfd);
    }

    #[test]
    fn small_fifo_sizes_round_up_to_default() {
        let p = SegmentManagerProps {
            rx_fifo_size: 100,
            tx_fifo_size: 0,
            ..Default::default()
        };
        assert_eq!(p.effective_rx_fifo_size(), DEFAULT_FIFO_SIZE);
        assert_eq!(p.effective_tx_fifo_size(), DEFAULT_FIFO_SIZE);
        assert_eq!(p.fifo_pair_bytes(), 2 * DEFAULT_FIFO_SIZE as usize);
    }
}
