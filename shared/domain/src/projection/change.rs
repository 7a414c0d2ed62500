//! What a projection asks of the store for one key, and how several changes of
//! one append collapse into one per key (one row touched once per statement).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ids::Seq;

/// A view document: a JSON object.
pub type Doc = Map<String, Value>;

/// A change to one row of a view, needing no read of the row.
#[derive(Debug, Clone, PartialEq)]
pub enum ViewOp {
    /// Store this document (insert or replace).
    Put(Doc),
    /// Merge these fields into the stored document (JSONB `||`, shallow);
    /// nothing happens when there is no row.
    Merge(Doc),
    /// Remove the row, if any.
    Delete,
}

impl ViewOp {
    /// The store's name of the operation (the `kind` it binds).
    pub fn kind(&self) -> &'static str {
        match self {
            ViewOp::Put(_) => "put",
            ViewOp::Merge(_) => "merge",
            ViewOp::Delete => "delete",
        }
    }

    /// The document or patch (`{}` for a delete).
    pub fn doc(&self) -> Value {
        match self {
            ViewOp::Put(doc) | ViewOp::Merge(doc) => Value::Object(doc.clone()),
            ViewOp::Delete => Value::Object(Doc::new()),
        }
    }

    /// `self` followed by `next`, as one operation with the same effect.
    fn then(self, next: ViewOp) -> ViewOp {
        match (self, next) {
            (ViewOp::Put(mut doc), ViewOp::Merge(patch)) => {
                doc.extend(patch);
                ViewOp::Put(doc)
            }
            (ViewOp::Merge(mut first), ViewOp::Merge(patch)) => {
                first.extend(patch);
                ViewOp::Merge(first)
            }
            (ViewOp::Delete, ViewOp::Merge(_)) => ViewOp::Delete,
            (_, next) => next,
        }
    }
}

/// A change to the row `key`, made by the event at `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewChange {
    pub key: String,
    pub op: ViewOp,
    pub seq: Seq,
}

/// Collapses changes (in seq order) into at most one per key, keeping the
/// order in which keys were first touched and the seq of the last change.
pub fn compact(changes: Vec<ViewChange>) -> Vec<ViewChange> {
    let mut out: Vec<ViewChange> = Vec::with_capacity(changes.len());
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for change in changes {
        match index.get(&change.key) {
            Some(&i) => {
                let earlier = std::mem::replace(&mut out[i].op, ViewOp::Delete);
                out[i].op = earlier.then(change.op);
                out[i].seq = change.seq;
            }
            None => {
                index.insert(change.key.clone(), out.len());
                out.push(change);
            }
        }
    }
    out
}

/// A stored row of a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    pub key: String,
    pub doc: Value,
    /// The seq of the event that last changed the row.
    pub seq: Seq,
}

/// A view held in memory, applying changes exactly as the store does: the
/// "fold of the log" that tests compare the stored view with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InMemoryView {
    rows: BTreeMap<String, (Doc, Seq)>,
}

impl InMemoryView {
    pub fn apply(&mut self, changes: impl IntoIterator<Item = ViewChange>) {
        for ViewChange { key, op, seq } in changes {
            match op {
                ViewOp::Put(doc) => {
                    self.rows.insert(key, (doc, seq));
                }
                ViewOp::Merge(patch) => {
                    if let Some((doc, row_seq)) = self.rows.get_mut(&key) {
                        doc.extend(patch);
                        *row_seq = seq;
                    }
                }
                ViewOp::Delete => {
                    self.rows.remove(&key);
                }
            }
        }
    }

    /// The rows, in key order.
    pub fn rows(&self) -> Vec<ViewRow> {
        self.rows
            .iter()
            .map(|(key, (doc, seq))| ViewRow {
                key: key.clone(),
                doc: Value::Object(doc.clone()),
                seq: *seq,
            })
            .collect()
    }
}
