//! `mm_users` against `mm_count` (`mm/mod.rs`): the mappings go when the last user lets go,
//! even while other references keep the structure.

use super::*;
use crate::mm::{mmget, mmput, Mm, MmUser};

#[test]
fn the_last_user_tears_the_mappings_down_while_references_keep_the_struct() {
    let _m = machine();
    let (mm, a) = anon_mm(4);
    let mm = Mm::new(mm);
    for i in 0..4 {
        write(&mut mm.lock(), a + i * P, 1).unwrap();
    }
    // A CLONE_VM child, and a lazy-TLB style reference that is no user.
    mmget(&mm);
    let loaded = mm.clone();
    let rss = || loaded.lock().get_mm_rss();
    assert_eq!(rss(), 4);
    // A reader of the memory (`get_task_mm`) is a user while it holds it.
    let reader = MmUser::get(mm.clone());
    mmput(mm.clone()); // the parent exits
    drop(reader);
    assert_eq!(rss(), 4, "the child still uses the address space");
    assert!(mm.lock().vmas.find_vma(a).is_some());
    mmput(mm); // the child exits: the last user
    assert_eq!(rss(), 0);
    assert!(loaded.lock().vmas.find_vma(0).is_none());
    assert_eq!(loaded.users.load(core::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn a_reader_that_outlives_the_tasks_is_the_one_that_tears_down() {
    let _m = machine();
    let (mm, a) = anon_mm(2);
    let mm = Mm::new(mm);
    write(&mut mm.lock(), a, 1).unwrap();
    let reader = MmUser::get(mm.clone());
    mmput(mm); // the only task exits while /proc reads its memory
    assert_eq!(read(&mut reader.lock(), a).unwrap(), 1);
    let kept = reader.0.clone();
    drop(reader);
    assert_eq!(kept.lock().get_mm_rss(), 0);
    assert!(kept.lock().vmas.find_vma(0).is_none());
}
