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

pub use plan::{Held, NamespacePlan, PolicyState, ReportKey, Write, plan_namespace};
pub use reports::{ReportApi, WorkloadReport};
pub use status::{PolicyEvent, desired_status, same_status};
