//! Load generator for the web dashboard: a live score state of 10,000 workloads in 500
//! namespaces behind the production routes (`ops::configure` and `dashboard::configure`)
//! on loopback, and a keep-alive HTTP/1.1 client that times every view's JSON and the
//! page's assets.
//!
//! ```text
//! cargo run --release -p kube-devops-actors --example dashboard_load -- \
//!     [--workloads 10000] [--namespaces 500] [--requests 200] [--hold SECONDS]
//! ```
//!
//! Prints, per endpoint: body size, the first answer (after the pods arrived: every
//! namespace is evaluated then), then p50/p99/max over `--requests` answers while nothing
//! changes, and over as many answers that each follow a pod change. `--hold` keeps the
//! server up afterwards (its address is printed) for a browser to measure first render.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor;
use actix_web::{App, HttpServer, web};
use anyhow::{Context, bail};
use kube_devops::facts::PodFacts;
use kube_devops::policy::exemptions::{IGNORE, IGNORE_REASON};
use kube_devops::policy::{EffectivePolicy, NamespaceExclusions};
use kube_devops::testing::{pod, with_uid};
use kube_devops_actors::http::dashboard::{self, DashboardState};
use kube_devops_actors::http::ops::{self, OpsState};
use kube_devops_actors::metrics::Metrics;
use kube_devops_actors::system::health::{Health, PODS, Readiness};
use kube_devops_actors::system::messages::PodEvent;
use kube_devops_actors::system::scores::NamespaceScoreActor;

/// The allocator of the `kube-devops` binary, so the figures are the product's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Flags of the dashboard load generator.
#[derive(clap::Parser)]
struct Options {
    /// Workloads to hold (at least 1).
    #[arg(long, default_value_t = 10_000)]
    workloads: usize,
    /// Namespaces they are spread over (at least 1).
    #[arg(long, default_value_t = 500)]
    namespaces: usize,
    /// Requests per endpoint (at least 1).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Seconds to keep serving after the measurement, for a browser.
    #[arg(long, default_value_t = 0)]
    hold: u64,
}

fn options() -> anyhow::Result<Options> {
    let mut o: Options = clap::Parser::parse();
    o.workloads = o.workloads.max(1);
    o.namespaces = o.namespaces.max(1);
    o.requests = o.requests.max(1);
    Ok(o)
}

/// Workload `i`: a mix of clean and failing pods, some with an exemption.
fn workload(i: usize, namespaces: usize, generation: usize) -> Box<PodFacts> {
    let ns = format!("team-{:03}", i % namespaces);
    let name = format!("app-{i:05}");
    let image = if i.is_multiple_of(3) {
        "registry.example.com/app:latest".to_owned()
    } else {
        format!("registry.example.com/app:1.{}", i % 50)
    };
    let mut b = pod(&format!("{name}-{generation}"))
        .ns(&ns)
        .image(&image)
        .status("Running", 0);
    if i.is_multiple_of(4) {
        b = b.without_probes();
    }
    if i.is_multiple_of(7) {
        b = b.without_resources();
    }
    if i.is_multiple_of(11) {
        b = b
            .annotation(IGNORE, "latestTag")
            .annotation(IGNORE_REASON, "vendor image");
    }
    let facts = with_uid(b.facts(), &format!("uid-{i}"), Some(("ReplicaSet", &name)));
    Box::new(facts)
}

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Client {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// GETs `path`; returns the status and the body's length.
    fn get(&mut self, path: &str) -> anyhow::Result<(u16, usize)> {
        write!(
            self.writer,
            "GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: application/json\r\n\r\n"
        )?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let length = length.context("no content-length")?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, length))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    actix_rt::System::new().block_on(async move {
        let health = Arc::new(Health::default());
        let metrics = Metrics::new()?;
        let actor = NamespaceScoreActor::with_fixed_policy(
            EffectivePolicy::default(),
            NamespaceExclusions::default(),
            metrics.clone(),
            health.clone(),
        );
        let changes = actor.dashboard_changes();
        let scores = actor.start();
        let started = Instant::now();
        for i in 0..o.workloads {
            let facts = workload(i, o.namespaces, 0);
            scores.send(PodEvent::Applied { facts, relist: false }).await?;
        }
        println!(
            "{} workloads in {} namespaces stored in {} ms",
            o.workloads,
            o.namespaces,
            started.elapsed().as_millis()
        );
        let readiness = Readiness::new(health.clone(), &[PODS]);
        readiness.set_synced();
        let ops_state = OpsState {
            health,
            readiness: readiness.clone(),
            metrics,
            scores: Some(scores.clone().recipient()),
        };
        let board = DashboardState {
            data: scores.clone().recipient(),
            policies: None,
            changes,
            readiness,
            leader: None,
            streams: Arc::default(),
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(ops_state.clone()))
                .app_data(web::Data::new(board.clone()))
                .configure(ops::configure)
                .configure(dashboard::configure(""))
        })
        .workers(2)
        .disable_signals()
        .bind("127.0.0.1:0")?;
        let addr = *server.addrs().first().context("no address")?;
        let handle = server.run();
        let stop = handle.handle();
        actix_rt::spawn(handle);

        let (requests, workloads, namespaces, hold) =
            (o.requests, o.workloads, o.namespaces, o.hold);
        let churn = scores.clone();
        let rt = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut client = Client::connect(addr)?;
            let paths = [
                "/api/v1/overview",
                "/api/v1/namespaces",
                "/api/v1/namespaces/team-007",
                "/api/v1/checks",
                "/api/v1/checks?severity=high&limit=20",
                "/api/v1/scores",
                "/",
                "/assets/dashboard.js",
                "/assets/report.css",
                "/assets/dashboard.css",
            ];
            println!(
                "| endpoint | bytes | first | unchanged p50 / p99 / max | after a pod change p50 / p99 / max |"
            );
            println!("|---|---|---|---|---|");
            for (k, path) in paths.iter().enumerate() {
                let t = Instant::now();
                let (status, bytes) = client.get(path)?;
                let first = t.elapsed();
                if status != 200 {
                    bail!("{path}: HTTP {status}");
                }
                let mut quiet = Vec::with_capacity(requests);
                for _ in 0..requests {
                    let t = Instant::now();
                    client.get(path)?;
                    quiet.push(t.elapsed());
                }
                let mut changed = Vec::with_capacity(requests);
                for r in 0..requests {
                    // A pod replaced (new name, same workload), as a rollout does.
                    let i = (r * 37 + k) % workloads;
                    let facts = workload(i, namespaces, k * requests + r + 1);
                    rt.block_on(churn.send(PodEvent::Applied { facts, relist: false }))?;
                    let t = Instant::now();
                    client.get(path)?;
                    changed.push(t.elapsed());
                }
                quiet.sort();
                changed.sort();
                println!(
                    "| `{path}` | {bytes} | {} ms | {} / {} / {} ms | {} / {} / {} ms |",
                    ms(first),
                    ms(percentile(&quiet, 0.5)),
                    ms(percentile(&quiet, 0.99)),
                    ms(*quiet.last().unwrap_or(&Duration::ZERO)),
                    ms(percentile(&changed, 0.5)),
                    ms(percentile(&changed, 0.99)),
                    ms(*changed.last().unwrap_or(&Duration::ZERO)),
                );
            }
            if hold > 0 {
                println!("serving http://{addr}/ for {hold} s");
                std::thread::sleep(Duration::from_secs(hold));
            }
            Ok(())
        })
        .await??;
        stop.stop(true).await;
        anyhow::Ok(())
    })
}
