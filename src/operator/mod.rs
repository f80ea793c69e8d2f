//! The operator's decisions: what a DevOpsPolicy's status, audit results and policy
//! reports should be, and which writes bring the cluster there.
//!
//! In: a namespace's evaluation (from the live pod state), the policy set, the
//! namespace's policies as held, the owner index and what the cluster holds of
//! kube-devops's own objects. Out: a plan of writes (`plan::plan_namespace`), computed
//! purely; the actor that owns the leadership performs it. See `status` for the status
//! rules, `audit` for audit results and retention, `reports` for the report objects.

pub mod audit;
pub mod plan;
pub mod reports;
pub mod status;
#[cfg(test)]
mod testkit;

pub use plan::{Held, NamespacePlan, PolicyState, ReportKey, Write, plan_namespace};
pub use reports::{ReportApi, WorkloadReport};
pub use status::{PolicyEvent, desired_status, same_status};

/// The hasher of digests ("did this object change"): FxHash's multiply-rotate over 8-byte
/// words. Digests are compared only within one process, so no stability across versions
/// is needed, and a resync hashes every report it plans: SipHash's cost showed in the
/// resync benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct Digest(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Digest {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for Digest {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
