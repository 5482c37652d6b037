//! listar, estadisticas and catalogo against data whose answers the test
//! computes on its own.

use crate::helpers::*;
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

fn items(r: &Value) -> Vec<Value> {
    assert_eq!(r["ok"], true, "{r}");
    r["datos"]["items"].as_array().unwrap().clone()
}

fn uuids(items: &[Value]) -> HashSet<String> {
    items.iter().map(|t| t["uuid"].as_str().unwrap().to_string()).collect()
}

/// Creates tickets back to back; returns their uuids in creation order.
async fn crear_varios(app: &mut TestApp, cuerpos: Vec<Value>) -> Vec<String> {
    let mut correlaciones = vec![];
    for c in cuerpos {
        let id = uuid::Uuid::new_v4().to_string();
        correlaciones.push(app.cliente.publicar("ticket.crear", c.to_string().as_bytes(), Some(&id), None).await);
    }
    let mut ids = vec![];
    for c in correlaciones {
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["ok"], true, "{r}");
        ids.push(r["datos"]["ticketUuid"].as_str().unwrap().to_string());
    }
    ids
}

fn ticket(prioridad: &str, tipo: &str, area: &str) -> Value {
    let mut c = ana_garcia();
    c["prioridad"] = json!(prioridad);
    c["tipo"] = json!(tipo);
    c["areaAsignada"] = json!(area);
    c
}

#[tokio::test]
async fn pagination_walks_every_ticket_once_while_tickets_change() {
    let mut app = TestApp::spawn().await;
    let originales = crear_varios(&mut app, (0..250).map(|_| ana_garcia()).collect()).await;
    let admin = token("ADMIN", None);
    let auth = format!("Bearer {admin}");
    let mut vistos: Vec<(String, i64)> = vec![];
    let mut cursor: Option<String> = None;
    let mut cambios = vec![];
    let mut paginas = 0;
    loop {
        let mut cuerpo = json!({"limite": 37});
        if let Some(c) = &cursor {
            cuerpo["cursor"] = json!(c);
        }
        let r = app.enviar("listar", cuerpo, Some(&admin)).await;
        let pagina = items(&r);
        assert!(pagina.len() <= 37);
        vistos.extend(pagina.iter().map(|t| (t["uuid"].as_str().unwrap().to_string(), t["num"].as_i64().unwrap())));
        paginas += 1;
        // Changes under the walk: assignments anywhere and brand-new tickets.
        for k in 0..5 {
            let t = &originales[(paginas * 31 + k * 47) % originales.len()];
            let body = json!({"ticketId": t, "motivo": "mientras se pagina"});
            let id = uuid::Uuid::new_v4().to_string();
            cambios.push(
                app.cliente.publicar("ticket.asignar", body.to_string().as_bytes(), Some(&id), Some(&auth)).await,
            );
        }
        let id = uuid::Uuid::new_v4().to_string();
        cambios.push(app.cliente.publicar("ticket.crear", ana_garcia().to_string().as_bytes(), Some(&id), None).await);
        match r["datos"]["siguienteCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    for c in cambios {
        app.cliente.respuesta(&c).await;
    }
    let unicos: HashSet<&String> = vistos.iter().map(|(u, _)| u).collect();
    assert_eq!(unicos.len(), vistos.len(), "no ticket twice");
    for o in &originales {
        assert!(unicos.contains(o), "ticket {o} skipped");
    }
    assert!(vistos.windows(2).all(|w| w[0].1 > w[1].1), "newest first");
    assert_eq!(paginas, 7, "250 tickets in pages of 37");
}

#[tokio::test]
async fn every_filter_and_area_scoping() {
    // A configured priority whose remaining time at the check (30 %) sits
    // just outside the 20 % warning window.
    let mut app = TestApp::spawn_with(|s| {
        s.sla.prioridades.insert("NORMAL".into(), "5h".into());
    })
    .await;
    let mut cuerpos = vec![];
    let mut datos = vec![];
    for prioridad in ["CRITICA", "ALTA", "NORMAL", "MEDIA"] {
        for tipo in ["INCIDENTE", "QUEJA"] {
            for area in ["MESA", "TI"] {
                cuerpos.push(ticket(prioridad, tipo, area));
                datos.push((prioridad, tipo, area));
            }
        }
    }
    let ids = crear_varios(&mut app, cuerpos).await;
    let mesa = token("MESA", None);
    // Expected state per ticket, kept by the test itself.
    let mut estados: Vec<&str> = vec!["NUEVO"; ids.len()];
    for (i, id) in ids.iter().enumerate() {
        if i % 3 != 0 {
            assert_eq!(app.enviar("asignar", json!({"ticketId": id}), Some(&mesa)).await["ok"], true);
            estados[i] = "ASIGNADO";
        }
        if i % 3 == 1 {
            assert_eq!(app.enviar("pausar", json!({"ticketId": id, "motivo": "m"}), Some(&mesa)).await["ok"], true);
            estados[i] = "PAUSADO";
        }
    }
    let cerrado = 2; // i % 3 == 2: assigned, not paused
    assert_eq!(app.enviar("cancelar", json!({"ticketId": ids[cerrado], "motivo": "m"}), Some(&mesa)).await["ok"], true);
    estados[cerrado] = "CANCELADO";

    // 3.5 hours later: CRITICA (2h) is overdue, ALTA (4h) has 30 min ≤ 20 % left,
    // NORMAL (5h) has 30 % left and MEDIA much more: both on time.
    app.adelantar(TimeDelta::minutes(210));
    let sla = |i: usize| -> &str {
        match (estados[i], datos[i].0) {
            ("CANCELADO", _) => "CUMPLIDO",
            ("PAUSADO", _) => "PAUSADO",
            (_, "CRITICA") => "VENCIDO",
            (_, "ALTA") => "POR_VENCER",
            _ => "EN_TIEMPO",
        }
    };
    let admin = token("ADMIN", None);
    let esperado = |pred: &dyn Fn(usize) -> bool| -> HashSet<String> {
        (0..ids.len()).filter(|&i| pred(i)).map(|i| ids[i].clone()).collect()
    };
    let casos: Vec<(Value, HashSet<String>)> = vec![
        (json!({}), esperado(&|_| true)),
        (json!({"estado": "PAUSADO"}), esperado(&|i| estados[i] == "PAUSADO")),
        (json!({"estado": "NUEVO"}), esperado(&|i| estados[i] == "NUEVO")),
        (json!({"area": "TI"}), esperado(&|i| datos[i].2 == "TI")),
        (json!({"prioridad": "alta"}), esperado(&|i| datos[i].0 == "ALTA")),
        (json!({"tipo": "QUEJA"}), esperado(&|i| datos[i].1 == "QUEJA")),
        (json!({"slaEstado": "VENCIDO"}), esperado(&|i| sla(i) == "VENCIDO")),
        (json!({"slaEstado": "POR_VENCER"}), esperado(&|i| sla(i) == "POR_VENCER")),
        (json!({"slaEstado": "EN_TIEMPO"}), esperado(&|i| sla(i) == "EN_TIEMPO")),
        (json!({"slaEstado": "PAUSADO"}), esperado(&|i| sla(i) == "PAUSADO")),
        (json!({"slaEstado": "CUMPLIDO"}), esperado(&|i| sla(i) == "CUMPLIDO")),
        (
            json!({"estado": "ASIGNADO", "area": "MESA", "tipo": "INCIDENTE"}),
            esperado(&|i| estados[i] == "ASIGNADO" && datos[i].2 == "MESA" && datos[i].1 == "INCIDENTE"),
        ),
    ];
    for (filtro, quiero) in casos {
        let r = app.enviar("listar", filtro.clone(), Some(&admin)).await;
        let got = items(&r);
        assert_eq!(uuids(&got), quiero, "{filtro}");
        if let Some(s) = filtro.get("slaEstado") {
            assert!(got.iter().all(|t| t["sla_estado"] == *s), "{filtro}");
        }
        assert!(!quiero.is_empty() || filtro.as_object().unwrap().len() > 1, "case {filtro} tests nothing");
    }

    // AREA actors see their own area, whatever they ask for.
    let ti = token("AREA", Some("TI"));
    let solo_ti = esperado(&|i| datos[i].2 == "TI");
    assert_eq!(uuids(&items(&app.enviar("listar", json!({}), Some(&ti)).await)), solo_ti);
    assert_eq!(uuids(&items(&app.enviar("listar", json!({"area": "TI"}), Some(&ti)).await)), solo_ti);
    assert!(items(&app.enviar("listar", json!({"area": "MESA"}), Some(&ti)).await).is_empty());
    assert_eq!(
        uuids(&items(&app.enviar("listar", json!({"estado": "NUEVO"}), Some(&ti)).await)),
        esperado(&|i| datos[i].2 == "TI" && estados[i] == "NUEVO")
    );

    // Validated like every other command; and a token is required.
    let r = app.enviar("listar", json!({"limite": 0, "estado": "ABIERTO"}), Some(&admin)).await;
    assert_eq!(r["error"]["codigo"], "VALIDACION", "{r}");
    assert_eq!(r["error"]["campos"].as_array().unwrap().len(), 2);
    assert_eq!(app.enviar("listar", json!({}), None).await["error"]["codigo"], "NO_AUTENTICADO");
}

/// Linear-interpolation percentile (what Postgres' percentile_cont computes).
fn percentil(mut v: Vec<f64>, p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let x = p * (v.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (x - lo as f64))
}

/// `got` is `want` give or take `margen` seconds.
fn cerca(got: &Value, want: Option<f64>, margen: f64) {
    match want {
        None => assert!(got.is_null(), "{got}"),
        Some(w) => assert!((got.as_f64().unwrap() - w).abs() < margen, "{got} vs {w} (± {margen} s)"),
    }
}

#[tokio::test]
async fn statistics_match_an_independent_computation() {
    let mut app = TestApp::spawn().await;
    // The worker's clock is real time plus the offsets below: the real
    // seconds the commands take add to every measured duration.
    let inicio = std::time::Instant::now();
    let datos: Vec<(&'static str, &'static str, &'static str)> = vec![
        ("ALTA", "INCIDENTE", "MESA"),
        ("ALTA", "QUEJA", "MESA"),
        ("ALTA", "INCIDENTE", "TI"),
        ("ALTA", "RECLAMO", "TI"),
        ("MEDIA", "INCIDENTE", "MESA"),
        ("MEDIA", "QUEJA", "TI"),
        ("CRITICA", "INCIDENTE", "MESA"),
        ("BAJA", "CONSULTA", "MESA"),
        ("BAJA", "CONSULTA", "TI"),
        ("MEDIA", "PETICION", "MESA"),
    ];
    let ids = crear_varios(&mut app, datos.iter().map(|(p, t, a)| ticket(p, t, a)).collect()).await;
    let mesa = token("MESA", None);
    let mut reloj_min = 0i64;
    let mut asignado_a = vec![None; ids.len()];
    let mut cerrado_a = vec![None; ids.len()];
    let mut estados = vec!["NUEVO"; ids.len()];
    for i in 0..7 {
        app.adelantar(TimeDelta::minutes(10 + 5 * i as i64));
        reloj_min += 10 + 5 * i as i64;
        assert_eq!(app.enviar("asignar", json!({"ticketId": ids[i]}), Some(&mesa)).await["ok"], true);
        asignado_a[i] = Some(reloj_min);
        estados[i] = "ASIGNADO";
    }
    for (i, op) in [(0, "archivar"), (1, "cancelar"), (4, "archivar"), (2, "archivar"), (6, "cancelar")] {
        app.adelantar(TimeDelta::minutes(40));
        reloj_min += 40;
        assert_eq!(app.enviar(op, json!({"ticketId": ids[i], "motivo": "fin"}), Some(&mesa)).await["ok"], true);
        cerrado_a[i] = Some(reloj_min);
        estados[i] = if op == "archivar" { "ARCHIVADO" } else { "CANCELADO" };
    }
    let objetivo_min = |p: &str| match p {
        "CRITICA" => 120,
        "ALTA" => 240,
        "MEDIA" => 1440,
        _ => 4320,
    };

    // The offsets are whole minutes, so a real error is 30 s at least.
    let margen = (inicio.elapsed().as_secs_f64() + 1.0).min(20.0);
    for (token_, area) in [(token("ADMIN", None), None), (token("AREA", Some("TI")), Some("TI"))] {
        let r = app.enviar("estadisticas", json!({}), Some(&token_)).await;
        assert_eq!(r["ok"], true, "{r}");
        let d = &r["datos"];
        let en = |i: usize| area.is_none_or(|a| datos[i].2 == a);
        let idx: Vec<usize> = (0..ids.len()).filter(|&i| en(i)).collect();
        assert_eq!(d["total"], idx.len() as i64);
        let contar = |f: &dyn Fn(usize) -> &'static str| {
            let mut m: BTreeMap<String, i64> = BTreeMap::new();
            for &i in &idx {
                *m.entry(f(i).to_string()).or_default() += 1;
            }
            json!(m)
        };
        assert_eq!(d["porEstado"], contar(&|i| estados[i]));
        assert_eq!(d["porPrioridad"], contar(&|i| datos[i].0));
        assert_eq!(d["porTipo"], contar(&|i| datos[i].1));
        assert_eq!(d["porArea"], contar(&|i| datos[i].2));

        let abiertos: Vec<usize> = idx.iter().copied().filter(|&i| cerrado_a[i].is_none()).collect();
        let mut sla: BTreeMap<String, i64> = BTreeMap::new();
        for &i in &abiertos {
            let resto = objetivo_min(datos[i].0) - reloj_min;
            let s = if resto < 0 {
                "VENCIDO"
            } else if resto * 100 <= objetivo_min(datos[i].0) * 20 {
                "POR_VENCER"
            } else {
                "EN_TIEMPO"
            };
            *sla.entry(s.to_string()).or_default() += 1;
        }
        assert_eq!(d["abiertosPorSlaEstado"], json!(sla));

        let cerrados: Vec<usize> = idx.iter().copied().filter(|&i| cerrado_a[i].is_some()).collect();
        let cumplidos = cerrados.iter().filter(|&&i| cerrado_a[i].unwrap() <= objetivo_min(datos[i].0)).count();
        assert_eq!(d["cumplimientoSla"]["cerrados"], cerrados.len());
        assert_eq!(d["cumplimientoSla"]["cumplidos"], cumplidos);
        let pct = (!cerrados.is_empty()).then(|| 100.0 * cumplidos as f64 / cerrados.len() as f64);
        cerca(&d["cumplimientoSla"]["porcentaje"], pct, 0.01);

        let asig: Vec<f64> = idx.iter().filter_map(|&i| asignado_a[i]).map(|m| (m * 60) as f64).collect();
        let cierre: Vec<f64> = idx.iter().filter_map(|&i| cerrado_a[i]).map(|m| (m * 60) as f64).collect();
        assert_eq!(d["tiempoHastaAsignacion"]["muestras"], asig.len());
        cerca(&d["tiempoHastaAsignacion"]["medianaSegundos"], percentil(asig.clone(), 0.5), margen);
        cerca(&d["tiempoHastaAsignacion"]["p90Segundos"], percentil(asig, 0.9), margen);
        assert_eq!(d["tiempoHastaCierre"]["muestras"], cierre.len());
        cerca(&d["tiempoHastaCierre"]["medianaSegundos"], percentil(cierre.clone(), 0.5), margen);
        cerca(&d["tiempoHastaCierre"]["p90Segundos"], percentil(cierre, 0.9), margen);
    }

    // The window counts creation time: one that starts after every creation is empty.
    let admin = token("ADMIN", None);
    let futuro = chrono::Utc::now() + TimeDelta::minutes(reloj_min - 1);
    let r = app.enviar("estadisticas", json!({"desde": futuro.to_rfc3339()}), Some(&admin)).await;
    assert_eq!(r["datos"]["total"], 0, "{r}");
    let r = app.enviar("estadisticas", json!({"area": "MESA"}), Some(&token("AREA", Some("TI")))).await;
    assert_eq!(r["datos"]["total"], 0, "an AREA actor cannot look at another area: {r}");
    let r = app.enviar("estadisticas", json!({"desde": "ayer"}), Some(&admin)).await;
    assert_eq!(r["error"]["codigo"], "VALIDACION");
}
