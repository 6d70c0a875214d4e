//! Where a sweep offers its next rate. Up while every step keeps up (doubling, or with
//! `top_first` straight to the top), then a search between the last rate kept up with and the
//! lowest one fallen behind at, until the two lie within `within` percent.
//!
//! The search reads what the lowest failed step stored. A step that stored under 99 % of its
//! offered rate (the keep-up rule's own line) fell behind for want of throughput, and its
//! stored rate is a reading of the path's capacity: the next step goes a little below it
//! ([`BELOW_CAPACITY`]). Once a rate at or above that is kept up with, the capacity lies above
//! it (a path whose throughput collapses under overload reads low), and the next step goes
//! straight to the precision above the kept-up rate ("the edge"), which ends the search if it
//! fails. If the edge keeps up too, that failed step's reading was no reading of capacity (a
//! stall: Kafka stored 830/s at 4,000/s in a fresh `make bench` on 2026-12-05 and kept up at
//! 3,816/s, and climbing by the precision from there took 9 steps), and the bracket is halved
//! until a lower step fails. A lowest failed step without a reading (it fell behind with a late
//! generator, its accounting, a backlog's slope) halves the bracket too, as does every step
//! after [`GUIDED_STEPS`] guided ones, so readings that mislead cost about that many steps more
//! than plain bisection at most (the unit tests check it on model paths). Rates are whole cases per
//! second. Every step lies strictly inside the bracket; the knee is as precise as plain
//! bisection's. In the fresh `make bench` of 2026-12-05 bisection took 5, 6 and 5 steps after
//! the fixed-rate run on the three paths that fell behind at 4,000/s; on models of those paths
//! built from that run's steps this walk takes 3 each (a unit test).

/// A failed step that stored less than this share of its offered rate fell behind for want of
/// throughput (the keep-up rule's line), and its stored rate reads the path's capacity.
pub const SATURATED: f64 = 0.99;

/// How far below a capacity reading the next step offers, so that it keeps up when the reading
/// is the path's capacity.
pub const BELOW_CAPACITY: f64 = 0.97;

/// Steps guided by capacity readings (below a reading, or at the edge above a kept-up rate) per
/// walk at most; bisection after them.
pub const GUIDED_STEPS: u32 = 4;

/// What a step was offered, and what it did.
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    pub offered: f64,
    pub kept_up: bool,
    /// The lowest stored rate of the step's repeats.
    pub stored_per_s: f64,
}

/// Why the walk chose a step.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Probe {
    /// Up, or half-way across the bracket.
    Plain,
    /// Just below a capacity reading.
    Capacity,
    /// The precision above the last rate kept up with.
    Edge,
}

/// The walk's state: its settings and the bracket so far.
#[derive(Debug)]
pub struct RateWalk {
    max: f64,
    within: f64,
    top_first: bool,
    good: Option<f64>,
    /// The lowest step fallen behind at.
    bad: Option<StepOutcome>,
    /// Whether the edge above a kept-up rate was tried since `bad` was recorded.
    edge_tried: bool,
    guided_steps: u32,
}

impl RateWalk {
    /// A walk up to `max` cases/s that ends when the knee is known within `within_percent`.
    pub fn new(max: f64, within_percent: f64, top_first: bool) -> Self {
        Self {
            max,
            within: within_percent / 100.0,
            top_first,
            good: None,
            bad: None,
            edge_tried: false,
            guided_steps: 0,
        }
    }

    /// The highest rate kept up with so far.
    pub fn kept_up(&self) -> Option<f64> {
        self.good
    }

    /// Records the step just run (at the rate [`Self::next`] gave, or the first).
    pub fn record(&mut self, step: StepOutcome) {
        if step.kept_up {
            self.good = Some(self.good.map_or(step.offered, |g| g.max(step.offered)));
        } else if self.bad.is_none_or(|b| step.offered < b.offered) {
            self.bad = Some(step);
            self.edge_tried = false;
        }
    }

    /// The next rate to offer, none when the walk is done.
    pub fn next(&mut self) -> Option<f64> {
        let (rate, probe) = self.choose()?;
        self.guided_steps += u32::from(probe != Probe::Plain);
        self.edge_tried |= probe == Probe::Edge;
        Some(rate)
    }

    fn choose(&self) -> Option<(f64, Probe)> {
        let g = self.good?;
        let Some(b) = self.bad else {
            let up = if self.top_first { self.max } else { g * 2.0 };
            return (g < self.max).then_some((up.min(self.max), Probe::Plain));
        };
        let edge = g * (1.0 + self.within);
        if b.offered <= edge {
            return None;
        }
        let half_way = (((g + b.offered) / 2.0).floor(), Probe::Plain);
        let reading = b.stored_per_s < b.offered * SATURATED;
        if !reading || self.edge_tried || self.guided_steps >= GUIDED_STEPS {
            return Some(half_way);
        }
        let below = (b.stored_per_s * BELOW_CAPACITY).floor();
        match below > g {
            true => Some((below, Probe::Capacity)),
            false => Some((edge.floor(), Probe::Edge)),
        }
    }
}

#[cfg(test)]
#[path = "rate_walk_tests.rs"]
mod tests;
