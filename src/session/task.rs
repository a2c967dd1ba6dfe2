//! The per-session task queue: the original's SynchronousTaskManager (§6), reduced to what the
//! DataStore uses.
//!
//! Tasks run one at a time, FIFO. A caller "joins" a pending task of its kind instead of adding
//! one (§6.3 batching). "Pending" is the original's `FindFirst`/`FindLast`: the running task
//! counts only while it is still *active* (a SaveTask ends that as soon as it starts, so callers
//! who arrive during its write get a new task), and queued tasks always count. The derived
//! states of §5.1 come from here: Opening = an Open task pending, Closing = a Close task
//! pending, Destroying = a Destroy task pending.

use super::flow::Step;
use super::CallId;
use crate::value::Value;
use std::collections::VecDeque;

/// The task functions (§5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Open,
    Read,
    Save,
    Close,
    Destroy,
    Lock,
}

/// A suspended caller, with the template it passed (`Open`/`Read`).
#[derive(Debug)]
pub(crate) struct Waiter {
    pub call: CallId,
    pub template: Option<Value>,
}

#[derive(Debug)]
pub(crate) struct Task {
    pub kind: Kind,
    /// May still accept joiners (and counts as pending).
    pub active: bool,
    pub waiters: Vec<Waiter>,
}

#[derive(Debug)]
pub(crate) struct Running {
    pub task: Task,
    pub step: Step,
}

/// Where a pending task sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Running,
    Queued(usize),
}

#[derive(Debug, Default)]
pub(crate) struct TaskQueue {
    pub running: Option<Running>,
    queued: VecDeque<Task>,
    /// A worker run is deferred (the manager's `Active`).
    scheduled: bool,
}

impl TaskQueue {
    /// `Tasks`: queued plus running.
    pub fn len(&self) -> usize {
        self.queued.len() + usize::from(self.running.is_some())
    }

    fn running_matches(&self, kind: Kind) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| r.task.active && r.task.kind == kind)
    }

    /// `FindFirst`: the running task (if active), then the queue from the head.
    pub fn find_first(&self, kind: Kind) -> Option<Slot> {
        if self.running_matches(kind) {
            return Some(Slot::Running);
        }
        self.queued
            .iter()
            .position(|t| t.kind == kind)
            .map(Slot::Queued)
    }

    /// `FindLast`: the queue from the tail, then the running task (if active).
    pub fn find_last(&self, kind: Kind) -> Option<Slot> {
        if let Some(i) = self.queued.iter().rposition(|t| t.kind == kind) {
            return Some(Slot::Queued(i));
        }
        self.running_matches(kind).then_some(Slot::Running)
    }

    /// Whether a task of this kind is queued, or running and active.
    pub fn pending(&self, kind: Kind) -> bool {
        self.find_first(kind).is_some()
    }

    /// Adds a waiter to the task at `slot`. False if there is no task there (never happens for
    /// a slot just found).
    pub fn join(&mut self, slot: Slot, waiter: Waiter) -> bool {
        let task = match slot {
            Slot::Running => self.running.as_mut().map(|r| &mut r.task),
            Slot::Queued(i) => self.queued.get_mut(i),
        };
        match task {
            Some(task) => {
                task.waiters.push(waiter);
                true
            }
            None => false,
        }
    }

    /// `InsertBack`. Returns true when the caller must defer a worker run.
    pub fn push_back(&mut self, kind: Kind, waiter: Option<Waiter>) -> bool {
        self.queued.push_back(Task {
            kind,
            active: true,
            waiters: waiter.into_iter().collect(),
        });
        self.needs_worker()
    }

    fn needs_worker(&mut self) -> bool {
        if self.scheduled || self.running.is_some() || self.queued.is_empty() {
            return false;
        }
        self.scheduled = true;
        true
    }

    /// The worker: takes the head of the queue as the running task. `None` if a task is
    /// already running or the queue is empty.
    pub fn start_next(&mut self) -> Option<Kind> {
        self.scheduled = false;
        if self.running.is_some() {
            return None;
        }
        let task = self.queued.pop_front()?;
        let kind = task.kind;
        self.running = Some(Running {
            task,
            step: Step::Start,
        });
        Some(kind)
    }

    /// The running task's function returned. Gives its waiters back; the bool says whether the
    /// caller must defer a worker run for the next task.
    pub fn finish(&mut self) -> (Vec<Waiter>, bool) {
        let waiters = self
            .running
            .take()
            .map(|r| r.task.waiters)
            .unwrap_or_default();
        (waiters, self.needs_worker())
    }

    /// The running task's `End()`: it stops accepting joiners and stops counting as pending.
    pub fn end_running(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.task.active = false;
        }
    }

    pub fn set_step(&mut self, step: Step) {
        if let Some(r) = self.running.as_mut() {
            r.step = step;
        }
    }

    /// The templates of the running task's waiters, in join order.
    pub fn templates(&self) -> Vec<&Value> {
        self.running
            .as_ref()
            .map(|r| {
                r.task
                    .waiters
                    .iter()
                    .filter_map(|w| w.template.as_ref())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(n: u64) -> Waiter {
        Waiter {
            call: CallId(n),
            template: None,
        }
    }

    #[test]
    fn find_first_prefers_the_active_running_task_and_find_last_the_tail() {
        let mut q = TaskQueue::default();
        assert!(q.push_back(Kind::Save, None));
        assert_eq!(q.start_next(), Some(Kind::Save));
        assert!(!q.push_back(Kind::Save, None));
        assert_eq!(q.find_first(Kind::Save), Some(Slot::Running));
        assert_eq!(q.find_last(Kind::Save), Some(Slot::Queued(0)));
        q.end_running();
        assert_eq!(q.find_first(Kind::Save), Some(Slot::Queued(0)));
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_finished_task_schedules_the_next_one_once() {
        let mut q = TaskQueue::default();
        assert!(q.push_back(Kind::Open, Some(waiter(1))));
        assert!(!q.push_back(Kind::Close, None));
        q.start_next();
        assert!(q.join(Slot::Running, waiter(2)));
        let (waiters, again) = q.finish();
        assert_eq!(waiters.len(), 2);
        assert!(again);
        assert!(!q.push_back(Kind::Read, None));
        assert_eq!(q.start_next(), Some(Kind::Close));
    }
}
