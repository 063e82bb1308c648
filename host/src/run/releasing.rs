//! Handing on a large list's items in order, giving its room back as it
//! empties.

/// Below this much room a list is not worth shrinking.
const SMALLEST_RELEASED: usize = 64 * 1024;

/// The items of a list in order, its room released as it empties:
/// whenever a quarter of it is spare, it shrinks to what is left. What the items
/// become can then take the room they leave, where a list dropped only at
/// its end held a whole batch twice over: as the attempts a process ended
/// with, and as what the scheduler made of them.
///
/// The list is reversed once, to be taken from its end. A list shrinks in
/// place (an allocator gives back a block's tail without moving it), so
/// no item moves more than that once.
pub(super) struct Releasing<T> {
    /// What is left, last first.
    items: Vec<T>,
}

impl<T> Releasing<T> {
    pub(super) fn new(mut items: Vec<T>) -> Self {
        items.reverse();
        Self { items }
    }

    /// How many items the list has room for now.
    fn room(&self) -> usize {
        self.items.capacity()
    }
}

impl<T> Iterator for Releasing<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let item = self.items.pop()?;
        let bytes = self.room() * size_of::<T>();
        if bytes >= SMALLEST_RELEASED && self.items.len() * 4 < self.room() * 3 {
            self.items.shrink_to_fit();
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.items.len(), Some(self.items.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_in_their_order() {
        let taken: Vec<u32> = Releasing::new((0..100_000).collect()).collect();
        assert!(taken.iter().copied().eq(0..100_000));
        assert_eq!(Releasing::new(Vec::<u32>::new()).count(), 0);
    }

    #[test]
    fn the_room_follows_what_is_left() {
        let mut items = Releasing::new(vec![[0u8; 64]; 10_000]);
        assert_eq!(items.room(), 10_000);
        let mut least = usize::MAX;
        while items.next().is_some() {
            let left = items.items.len();
            let small = items.room() * 64 < SMALLEST_RELEASED;
            let spare = items.room() - left;
            assert!(
                small || spare * 4 <= items.room(),
                "{left} left in {}",
                items.room()
            );
            least = least.min(items.room());
        }
        assert!(
            least * 64 < SMALLEST_RELEASED,
            "the room never fell: {least}"
        );
    }

    #[test]
    fn a_small_list_keeps_its_room() {
        let mut items = Releasing::new(vec![0u8; 1000]);
        items.by_ref().take(999).for_each(drop);
        assert_eq!(items.room(), 1000);
    }
}
