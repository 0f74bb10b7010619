//! Tenants and roles applied to collection items: which tenant an item belongs to, who
//! may see it (any role on that tenant) and who may change it (owner/admin of the tenant,
//! or a developer for what they own).

use pylon_store::sql::Role;
use serde_json::Value;

use super::doc::{find, list};
use super::{Collection, DevAccess, TenantOf};
use crate::auth::{Caller, TENANT};

fn text<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    item.get(field).and_then(Value::as_str)
}

/// The item `field` names in top-level collection `c`.
fn referenced<'a>(doc: &'a Value, item: &Value, field: &str, c: &Collection) -> Option<&'a Value> {
    let name = text(item, field)?;
    let items = list(doc, c.pointer);
    find(c, items, name).map(|i| &items[i])
}

/// The tenant `item` of `c` belongs to (`parent`: the parent item of a nested collection).
pub(crate) fn tenant_of(
    c: &Collection,
    doc: &Value,
    parent: Option<&Value>,
    item: &Value,
) -> String {
    match c.tenant {
        TenantOf::Field(f) => text(item, f).unwrap_or(TENANT).to_owned(),
        TenantOf::Via { field, collection } => referenced(doc, item, field, collection)
            .map_or_else(
                || TENANT.to_owned(),
                |r| tenant_of(collection, doc, None, r),
            ),
        TenantOf::Parent => match (c.parent, parent) {
            (Some(p), Some(pi)) => tenant_of(p, doc, None, pi),
            _ => TENANT.to_owned(),
        },
        TenantOf::Platform => TENANT.to_owned(),
    }
}

/// Whether a developer owns `item` (per the collection's rule).
fn developer_owns(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    parent: Option<&Value>,
    item: &Value,
) -> bool {
    match c.developer {
        DevAccess::None => false,
        DevAccess::Owner(f) => text(item, f) == Some(caller.name.as_str()),
        DevAccess::Via { field, collection } => referenced(doc, item, field, collection)
            .is_some_and(|r| may_write(collection, caller, doc, None, r)),
        DevAccess::Parent => match (c.parent, parent) {
            (Some(p), Some(pi)) => may_write(p, caller, doc, None, pi),
            _ => false,
        },
    }
}

/// May `caller` create, change or delete `item` (as it is in `doc`)?
pub(crate) fn may_write(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    parent: Option<&Value>,
    item: &Value,
) -> bool {
    let tenant = tenant_of(c, doc, parent, item);
    match caller.role(&tenant) {
        Some(Role::Owner | Role::Admin) => true,
        Some(Role::Developer) => developer_owns(c, caller, doc, parent, item),
        _ => false,
    }
}

/// May `caller` see `item`?
pub(crate) fn may_read(
    c: &Collection,
    caller: &Caller,
    doc: &Value,
    parent: Option<&Value>,
    item: &Value,
) -> bool {
    caller.reads(&tenant_of(c, doc, parent, item))
}

/// Tenants whose objects differ between two documents (added, removed or changed items
/// of any collection; anything outside the collections counts as the platform's).
pub(crate) fn touched_tenants(old: &Value, new: &Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let (mut o, mut n) = (old.clone(), new.clone());
    for c in super::COLLECTIONS.iter().filter(|c| c.parent.is_none()) {
        for (doc, other) in [(old, new), (new, old)] {
            for item in list(doc, c.pointer) {
                let key = super::doc::key_of(c, item).unwrap_or_default();
                let others = list(other, c.pointer);
                let same = find(c, others, key).is_some_and(|i| &others[i] == item);
                if !same {
                    out.insert(tenant_of(c, doc, None, item));
                }
            }
        }
        for d in [&mut o, &mut n] {
            if let Some(m) = d.as_object_mut() {
                m.remove(c.pointer[0]);
            }
        }
    }
    if o != n {
        out.insert(TENANT.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use pylon_store::sql::Role;
    use serde_json::json;

    use super::*;
    use crate::collections::{ROUTE_POLICIES, ROUTES, SERVICES};

    fn caller(roles: &[(&str, Role)]) -> Caller {
        Caller {
            user_id: "u".into(),
            name: "dev".into(),
            roles: roles
                .iter()
                .map(|(t, r)| ((*t).to_owned(), *r))
                .collect::<BTreeMap<_, _>>(),
            token_id: "t".into(),
            session: false,
        }
    }

    fn doc() -> Value {
        json!({
            "services": [{"name": "mine", "tenant": "acme", "owner": "dev"},
                         {"name": "theirs", "tenant": "acme", "owner": "ada"}],
            "routes": [{"name": "r1", "service": "mine"}, {"name": "r2", "service": "theirs"}, {"name": "r3"}],
        })
    }

    #[test]
    fn tenants_follow_fields_references_and_parents() {
        let d = doc();
        assert_eq!(tenant_of(&SERVICES, &d, None, &d["services"][0]), "acme");
        assert_eq!(tenant_of(&ROUTES, &d, None, &d["routes"][1]), "acme");
        assert_eq!(tenant_of(&ROUTES, &d, None, &d["routes"][2]), "default");
        assert_eq!(
            tenant_of(
                &ROUTE_POLICIES,
                &d,
                Some(&d["routes"][0]),
                &json!({"name": "cors"})
            ),
            "acme"
        );
    }

    #[test]
    fn developers_write_what_they_own() {
        let d = doc();
        let dev = caller(&[("acme", Role::Developer)]);
        assert!(may_write(&SERVICES, &dev, &d, None, &d["services"][0]));
        assert!(!may_write(&SERVICES, &dev, &d, None, &d["services"][1]));
        assert!(may_write(&ROUTES, &dev, &d, None, &d["routes"][0]));
        assert!(!may_write(&ROUTES, &dev, &d, None, &d["routes"][1]));
        let p = json!({"name": "cors"});
        assert!(may_write(
            &ROUTE_POLICIES,
            &dev,
            &d,
            Some(&d["routes"][0]),
            &p
        ));
        assert!(!may_write(
            &ROUTE_POLICIES,
            &dev,
            &d,
            Some(&d["routes"][1]),
            &p
        ));
        let viewer = caller(&[("acme", Role::Viewer)]);
        assert!(may_read(&SERVICES, &viewer, &d, None, &d["services"][1]));
        assert!(!may_write(&SERVICES, &viewer, &d, None, &d["services"][0]));
        let admin = caller(&[("acme", Role::Admin)]);
        assert!(may_write(&SERVICES, &admin, &d, None, &d["services"][1]));
        assert!(
            !may_read(&ROUTES, &admin, &d, None, &d["routes"][2]),
            "r3 is the platform's"
        );
    }

    #[test]
    fn touched_tenants_of_a_release() {
        let old = doc();
        assert!(touched_tenants(&old, &old).is_empty());
        let mut new = old.clone();
        new["routes"][0]["match"] = json!({});
        assert_eq!(
            touched_tenants(&old, &new).into_iter().collect::<Vec<_>>(),
            ["acme"]
        );
        new["services"][1]["tenant"] = json!("globex");
        assert_eq!(
            touched_tenants(&old, &new).into_iter().collect::<Vec<_>>(),
            ["acme", "globex"]
        );
        let mut server = old.clone();
        server["server"] = json!({"via_header": false});
        assert_eq!(
            touched_tenants(&old, &server)
                .into_iter()
                .collect::<Vec<_>>(),
            ["default"]
        );
    }
}
