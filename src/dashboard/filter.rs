//! The dashboard's filters: what a request's query string asks to see.
//!
//! In: query-string pairs (`namespace`, `severity`, `failing`, `q`, `sort`, `order`,
//! `limit`). Out: a [`Filter`] (or a message naming the bad parameter) that narrows the
//! namespace list, a namespace's workloads and the checks index. The same names are used
//! in the page's deep links, so a URL fully describes what is shown.

use super::{FindingView, NamespaceDetail, NamespaceRow, WorkloadView};
use crate::checks::Severity;

/// Workloads listed per check unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The most `limit` may ask for.
pub const MAX_LIMIT: usize = 10_000;

/// How the namespace list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NamespaceSort {
    /// By name.
    #[default]
    Name,
    /// By score (namespaces without one last).
    Score,
    /// By stored pods.
    Pods,
    /// By counted findings.
    Findings,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// What a request asks to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only findings of at least this severity.
    pub severity: Option<Severity>,
    /// Only what has counted findings.
    pub failing: bool,
    /// Only what mentions this text (lower case; names, checks, messages).
    pub query: Option<String>,
    /// Order of the namespace list.
    pub sort: NamespaceSort,
    /// Direction of the order.
    pub order: SortOrder,
    /// Workloads listed per check.
    pub limit: usize,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            namespace: None,
            severity: None,
            failing: false,
            query: None,
            sort: NamespaceSort::default(),
            order: SortOrder::default(),
            limit: DEFAULT_LIMIT,
        }
    }
}

impl Filter {
    /// Reads a query string's pairs. Empty values mean "not set"; unknown names are
    /// ignored (the page may carry its own); a bad value is an error naming it.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Filter, String> {
        let mut f = Filter::default();
        for (key, value) in pairs {
            if value.is_empty() {
                continue;
            }
            match key {
                "namespace" => f.namespace = Some(value.to_owned()),
                "severity" => {
                    f.severity = Some(Severity::parse(value).ok_or_else(|| {
                        format!("severity {value:?} is not one of low, medium, high, critical")
                    })?)
                }
                "failing" => {
                    f.failing = match value {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(format!("failing {value:?} is not true or false")),
                    }
                }
                "q" => f.query = Some(value.to_lowercase()),
                "sort" => {
                    f.sort = match value {
                        "name" => NamespaceSort::Name,
                        "score" => NamespaceSort::Score,
                        "pods" => NamespaceSort::Pods,
                        "findings" => NamespaceSort::Findings,
                        _ => {
                            return Err(format!(
                                "sort {value:?} is not one of name, score, pods, findings"
                            ));
                        }
                    }
                }
                "order" => {
                    f.order = match value {
                        "asc" => SortOrder::Asc,
                        "desc" => SortOrder::Desc,
                        _ => return Err(format!("order {value:?} is not asc or desc")),
                    }
                }
                "limit" => {
                    f.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            format!("limit {value:?} is not a number from 1 to {MAX_LIMIT}")
                        })?
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Whether the namespace filter admits `ns`.
    pub fn namespace_matches(&self, ns: &str) -> bool {
        self.namespace.as_deref().is_none_or(|want| want == ns)
    }

    /// Whether the severity filter admits a finding.
    pub fn finding_matches(&self, f: &FindingView) -> bool {
        self.severity.is_none_or(|min| f.severity >= min)
    }

    /// Whether the search text occurs in any of `fields` (always, without a search).
    pub fn text_matches(&self, fields: &[&str]) -> bool {
        match &self.query {
            None => true,
            Some(q) => fields.iter().any(|f| f.to_lowercase().contains(q.as_str())),
        }
    }

    /// The namespace list under this filter, in the asked order.
    pub fn namespaces<'a>(
        &self,
        namespaces: impl IntoIterator<Item = &'a NamespaceDetail>,
    ) -> Vec<NamespaceRow> {
        let mut rows: Vec<NamespaceRow> = namespaces
            .into_iter()
            .filter(|ns| self.namespace_matches(&ns.row.name))
            .filter(|ns| !self.failing || ns.row.findings > 0)
            .filter(|ns| {
                self.severity.is_none_or(|min| {
                    Severity::ALL
                        .iter()
                        .any(|s| *s >= min && ns.row.severities.get(*s) > 0)
                })
            })
            .filter(|ns| self.text_matches(&[&ns.row.name]))
            .map(|ns| ns.row.clone())
            .collect();
        let key = |r: &NamespaceRow| -> (u64, u64) {
            match self.sort {
                NamespaceSort::Name => (0, 0),
                // Tenths as integers; no score sorts after every score.
                NamespaceSort::Score => match r.score {
                    Some(s) => (0, (s * 10.0).round() as u64),
                    None => (1, 0),
                },
                NamespaceSort::Pods => (0, r.pods),
                NamespaceSort::Findings => (0, r.findings),
            }
        };
        rows.sort_by(|a, b| {
            let by_key = key(a).cmp(&key(b));
            let by_key = match self.order {
                SortOrder::Asc => by_key,
                SortOrder::Desc => by_key.reverse(),
            };
            by_key.then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    /// A namespace's workloads under this filter: findings below the severity are hidden,
    /// and with `failing` or a search only the workloads that still have something to show
    /// remain. The namespace's own figures are unchanged.
    pub fn namespace(&self, detail: &NamespaceDetail) -> NamespaceDetail {
        let workloads = detail
            .workloads
            .iter()
            .filter_map(|w| self.workload(w))
            .collect();
        NamespaceDetail {
            row: detail.row.clone(),
            categories: detail.categories.clone(),
            workloads,
        }
    }

    fn workload(&self, w: &WorkloadView) -> Option<WorkloadView> {
        let named = self.text_matches(&[&w.name, &w.kind]);
        let items: Vec<FindingView> = w
            .items
            .iter()
            .filter(|f| self.finding_matches(f))
            .filter(|f| {
                named
                    || self.text_matches(&[
                        f.check.as_str(),
                        &f.message,
                        f.container.as_deref().unwrap_or(""),
                    ])
            })
            .cloned()
            .collect();
        let counted = items.iter().filter(|f| f.exempt.is_none()).count() as u32;
        if self.failing && counted == 0 {
            return None;
        }
        if !named && items.is_empty() {
            return None;
        }
        if self.severity.is_some() && items.is_empty() {
            return None;
        }
        Some(WorkloadView {
            kind: w.kind.clone(),
            name: w.name.clone(),
            pods: w.pods,
            findings: counted,
            exempt: items.len() as u32 - counted,
            items,
        })
    }
}
