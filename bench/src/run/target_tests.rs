use super::*;

fn file(text: &str) -> anyhow::Result<TargetFile> {
    Ok(toml::from_str(text)?)
}

#[test]
fn a_target_file_names_the_ingress_each_subscriber_and_optionally_the_store() {
    let f = file(
        "ingress = \"http://10.0.0.2:8080\"\n\
         broker_options = [\"--nats-url=nats://10.0.0.3:4222\"]\n\
         [subscribers]\nnats = \"http://10.0.0.4:9090\"\n\
         [mongodb]\ndb = \"bb\"\n",
    )
    .expect("a valid file");
    assert_eq!(f.subscribers[&Middleware::Nats], "http://10.0.0.4:9090");
    let run = MongoSettings {
        uri: "mongodb://secret@store/".into(),
        db: "brokerbench".into(),
    };
    let mongo = f.mongo(&run);
    assert_eq!(
        (mongo.uri.as_str(), mongo.db.as_str()),
        (run.uri.as_str(), "bb")
    );
    check_paths(&[Middleware::Nats], &f).expect("one path, one subscriber");
    let missing = check_paths(&[Middleware::Nats, Middleware::Redis], &f);
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .contains("no redis subscriber")
    );
    let extra = check_paths(&[], &f);
    assert!(
        extra
            .unwrap_err()
            .to_string()
            .contains("does not publish through nats")
    );
}

/// Each compose file has its target example, which reads, names a subscriber for each of
/// the file's paths, and points at ports the file publishes.
#[test]
fn every_compose_file_has_a_target_that_reads_and_matches_its_ports() {
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose");
    let files = Middleware::ALL.map(Middleware::name);
    for name in files.into_iter().chain(["all"]) {
        let target = TargetFile::read(&compose.join(format!("targets/{name}.toml")))
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let yml = std::fs::read_to_string(compose.join(format!("{name}.yml"))).expect("yml");
        let paths: Vec<Middleware> = match name {
            "all" => Middleware::ALL.to_vec(),
            one => vec![one.parse().expect("a middleware")],
        };
        assert_eq!(
            target.subscribers.keys().copied().collect::<Vec<_>>(),
            paths
        );
        let subscribers = target.subscribers.values().cloned();
        for url in target.ingress.urls().iter().cloned().chain(subscribers) {
            let port = url.rsplit(':').next().expect("a port");
            let published = [
                format!("127.0.0.1}}:{port}:"),
                format!("BB_INGRESS_PORTS:-{port}}}:"),
            ];
            assert!(
                published.iter().any(|p| yml.contains(p.as_str())),
                "{name}.yml does not publish {url}"
            );
        }
    }
}

#[test]
fn the_ingress_is_one_url_or_a_list_of_replicas() {
    let one = file("ingress = \"http://a:1/\"\n[subscribers]\n").expect("one");
    assert_eq!(one.ingress.urls(), ["http://a:1"]);
    let two = file("ingress = [\"http://a:1\", \"http://b:2\"]\n[subscribers]\n");
    assert_eq!(
        two.expect("a list").ingress.urls(),
        ["http://a:1", "http://b:2"]
    );
}

#[test]
fn an_unknown_key_or_middleware_is_refused() {
    let typo = file("ingres = \"http://x\"\n[subscribers]\n");
    assert!(typo.is_err(), "a misspelt key is an error, not a default");
    let mqtt = file("ingress = \"http://x\"\n[subscribers]\nmqtt = \"http://y\"\n");
    assert!(mqtt.is_err(), "a middleware brokerbench lacks");
}
