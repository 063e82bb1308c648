//! A list whose items are found by their ids. Each id is held once, by its
//! item; the table beside the list holds only places in it.
//!
//! A process's tests were each found through maps keyed by a copy of their
//! id: the tests discovered, their starts, their ends, the runner's
//! results. At the end of a batch of ten thousand tests those copies and
//! their tables were a fifth of the host's memory, and every live event
//! paid for their allocation.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use proctor_plugin_api::messages::TestCase;

use crate::plugins::RunnerResult;

/// What an item of a [`KeyedVec`] is found by.
pub(super) trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for TestCase {
    fn key(&self) -> &str {
        &self.id
    }
}

/// A result taken out of its list is no longer found: its id is forgotten
/// first.
impl Keyed for Option<RunnerResult> {
    fn key(&self) -> &str {
        self.as_ref().map_or("", |result| &result.id)
    }
}

/// Items in the order they came, found by [`Keyed::key`]; an id is in the
/// table once at most.
pub(super) struct KeyedVec<T> {
    items: Vec<T>,
    places: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for KeyedVec<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            places: HashTable::new(),
            hasher: Default::default(),
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for KeyedVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.items).finish()
    }
}

impl<T: Keyed> KeyedVec<T> {
    /// How many ids are in the table.
    pub(super) fn len(&self) -> usize {
        self.places.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Where the item with id `key` is.
    pub(super) fn place(&self, key: &str) -> Option<usize> {
        let items = &self.items;
        (self.places)
            .find(self.hasher.hash_one(key), |&at| {
                items[at as usize].key() == key
            })
            .map(|&at| at as usize)
    }

    pub(super) fn get(&self, key: &str) -> Option<&T> {
        self.place(key).map(|at| &self.items[at])
    }

    /// `items`, each id found at its first item. Each later item of an id
    /// seen before is not found itself: `repeated(items, first, later)`
    /// settles between the two.
    pub(super) fn index(items: Vec<T>, mut repeated: impl FnMut(&mut [T], usize, usize)) -> Self {
        let mut list = Self {
            places: HashTable::with_capacity(items.len()),
            items,
            hasher: Default::default(),
        };
        for at in 0..list.items.len() {
            match list.place(list.items[at].key()) {
                Some(first) => repeated(&mut list.items, first, at),
                None => list.find_at(at),
            }
        }
        list
    }

    /// Adds `item`, whose id the table does not hold yet (see
    /// [`place`](Self::place)); answers its place.
    pub(super) fn push_new(&mut self, item: T) -> usize {
        self.items.push(item);
        let at = self.items.len() - 1;
        self.find_at(at);
        at
    }

    /// Has the id of the item at `at` found there.
    fn find_at(&mut self, at: usize) {
        let place = u32::try_from(at).expect("a process runs fewer than 2^32 tests");
        let (items, hasher) = (&self.items, &self.hasher);
        let hash = hasher.hash_one(items[at].key());
        (self.places).insert_unique(hash, place, |&at| hasher.hash_one(items[at as usize].key()));
    }

    /// Takes the id `key` out of the table; its item stays in the list,
    /// at the place answered.
    pub(super) fn forget(&mut self, key: &str) -> Option<usize> {
        let items = &self.items;
        let hash = self.hasher.hash_one(key);
        let entry = (self.places).find_entry(hash, |&at| items[at as usize].key() == key);
        entry.ok().map(|entry| entry.remove().0 as usize)
    }

    /// Gives back the room the list and its table grew beyond their items.
    pub(super) fn shrink_to_fit(&mut self) {
        self.items.shrink_to_fit();
        let (items, hasher) = (&self.items, &self.hasher);
        (self.places).shrink_to_fit(|&at| hasher.hash_one(items[at as usize].key()));
    }

    /// Every item, in the order they came, found or forgotten.
    pub(super) fn items(&self) -> &[T] {
        &self.items
    }

    pub(super) fn items_mut(&mut self) -> &mut [T] {
        &mut self.items
    }

    /// The list, without the table.
    pub(super) fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for String {
        fn key(&self) -> &str {
            self
        }
    }

    #[test]
    fn items_are_found_by_id_in_the_order_they_came_however_many() {
        let mut list = KeyedVec::default();
        for n in 0..10_000 {
            assert_eq!(list.push_new(format!("t{n}")), n);
        }
        assert_eq!(list.len(), 10_000);
        assert_eq!(list.place("t0"), Some(0));
        assert_eq!(list.get("t9999").map(String::as_str), Some("t9999"));
        assert!(list.get("t10000").is_none());
        assert_eq!(list.items()[42], "t42");
    }

    #[test]
    fn a_forgotten_id_is_not_found_and_its_item_stays() {
        let mut list = KeyedVec::default();
        list.push_new("a".to_owned());
        list.push_new("b".to_owned());
        assert_eq!(list.forget("a"), Some(0));
        assert_eq!(list.forget("a"), None, "forgotten once");
        assert!(list.get("a").is_none());
        assert_eq!((list.len(), list.items().len()), (1, 2));
        assert_eq!(list.get("b").map(String::as_str), Some("b"));
        assert_eq!(list.into_items(), ["a", "b"]);
    }

    #[test]
    fn a_list_indexed_finds_each_id_at_its_first_item_and_settles_the_later() {
        struct Count(&'static str, u32);
        impl Keyed for Count {
            fn key(&self) -> &str {
                self.0
            }
        }
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("a", 5)];
        let items = items.map(|(id, n)| Count(id, n)).into();
        let mut settled = Vec::new();
        let list = KeyedVec::index(items, |items, first, later| {
            settled.push((first, later));
            items[first].1 += std::mem::take(&mut items[later].1);
        });
        assert_eq!(settled, [(0, 2), (0, 4)]);
        assert_eq!((list.place("b"), list.place("c")), (Some(1), Some(3)));
        assert_eq!((list.len(), list.get("a").map(|a| a.1)), (3, Some(9)));
    }
}
