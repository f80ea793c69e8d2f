//! kubectl conformance of authentication and authorization: the real `kubectl` (from
//! `$KUBECTL` or `PATH`) takes a ServiceAccount token with `kubectl create token`, is
//! refused with kube-apiserver's exact 403 message, is allowed once `kubectl create role`
//! and `rolebinding` grant the verbs, and `kubectl auth can-i` (also `--list`) and `auth
//! whoami` tell the truth for that token. Ignored by default because it needs the binary;
//! run with `cargo test -p kube-apiserver-test --test kubectl_authz -- --ignored`.

mod common;

use common::kubectl::Kubectl;
use kube_apiserver_test::{ServerConfig, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the kubectl binary"]
async fn kubectl_acts_as_a_service_account_with_a_token_it_created() {
    let server = start(ServerConfig::new().simulation(false))
        .await
        .expect("the server starts");
    let kubectl = Kubectl::new(&server);
    kubectl.ok(&["create", "namespace", "team"]).await;
    kubectl
        .ok(&["create", "serviceaccount", "bot", "-n", "team"])
        .await;
    let token = kubectl
        .ok(&["create", "token", "bot", "-n", "team", "--duration=20m"])
        .await
        .trim()
        .to_string();
    assert!(!token.is_empty());
    // kubectl sends credentials only over TLS: the HTTPS kubeconfig of the same account,
    // with the token kubectl created instead of its own.
    let https = Kubectl::with_kubeconfig(
        server
            .kubeconfig_for_service_account("team", "bot")
            .expect("a kubeconfig"),
    );
    let as_bot = format!("--token={token}");
    let (allowed, _, stderr) = https.run(&[&as_bot, "get", "pods", "-n", "team"]).await;
    assert!(!allowed);
    assert_eq!(
        stderr.trim(),
        "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:team:bot\" \
         cannot list resource \"pods\" in API group \"\" in the namespace \"team\""
    );
    let (allowed, stdout, _) = https
        .run(&[&as_bot, "auth", "can-i", "list", "pods", "-n", "team"])
        .await;
    assert!(!allowed && stdout.trim() == "no", "{stdout}");

    kubectl
        .ok(&[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list,watch",
            "--resource=pods",
            "-n",
            "team",
        ])
        .await;
    kubectl
        .ok(&[
            "create",
            "rolebinding",
            "bot-reads-pods",
            "--role=pod-reader",
            "--serviceaccount=team:bot",
            "-n",
            "team",
        ])
        .await;
    let (allowed, _, stderr) = https.run(&[&as_bot, "get", "pods", "-n", "team"]).await;
    assert!(allowed, "{stderr}");
    assert_eq!(
        https
            .ok(&[&as_bot, "auth", "can-i", "list", "pods", "-n", "team"])
            .await
            .trim(),
        "yes"
    );
    for (args, expected) in [
        (vec!["delete", "pods"], "no"),
        (vec!["list", "pods", "-n", "default"], "no"),
        (vec!["get", "pods/p"], "yes"),
        (vec!["get", "pods", "--subresource=log"], "no"),
        (vec!["get", "/version"], "yes"),
        (vec!["get", "/metrics"], "no"),
    ] {
        let mut line = vec![as_bot.as_str(), "auth", "can-i"];
        line.extend(args.iter().copied());
        if !args.contains(&"default") && !args[1].starts_with('/') {
            line.extend(["-n", "team"]);
        }
        let (_, stdout, stderr) = https.run(&line).await;
        assert_eq!(stdout.trim(), expected, "{args:?}: {stderr}");
    }
    let (allowed, _, stderr) = https
        .run(&[&as_bot, "delete", "pod", "p", "-n", "team"])
        .await;
    assert!(!allowed);
    assert!(
        stderr.contains(
            "pods \"p\" is forbidden: User \"system:serviceaccount:team:bot\" cannot delete resource \
             \"pods\" in API group \"\" in the namespace \"team\""
        ),
        "{stderr}"
    );
    let rules = https
        .ok(&[&as_bot, "auth", "can-i", "--list", "-n", "team"])
        .await;
    let pods_line = rules
        .lines()
        .find(|l| l.starts_with("pods "))
        .unwrap_or_else(|| panic!("a pods rule in:\n{rules}"));
    assert!(pods_line.contains("[get list watch]"), "{pods_line}");
    let whoami = https.ok(&[&as_bot, "auth", "whoami"]).await;
    assert!(
        whoami.contains("system:serviceaccount:team:bot")
            && whoami.contains("system:serviceaccounts:team"),
        "{whoami}"
    );
    let (allowed, _, stderr) = https
        .run(&["--token=not-issued", "get", "pods", "-n", "team"])
        .await;
    assert!(!allowed && stderr.contains("Unauthorized"), "{stderr}");
    assert_eq!(
        kubectl
            .ok(&["auth", "can-i", "delete", "nodes"])
            .await
            .trim(),
        "yes",
        "the admin kubeconfig keeps full access"
    );
}
