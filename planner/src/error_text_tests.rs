//! Every text match of error_text.rs, provoked through DataFusion and classified.

use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use crate::QueryError;
use crate::error_text::{TEXT_RULES, Variant, kind_by_text};

/// The variant and message a DataFusion error reports, as `classify` sees them.
fn variant_of(error: &DataFusionError) -> Option<(Variant, String)> {
    use datafusion::arrow::error::ArrowError;
    match error.find_root() {
        DataFusionError::Plan(m) => Some((Variant::Plan, m.clone())),
        DataFusionError::NotImplemented(m) => Some((Variant::NotImplemented, m.clone())),
        DataFusionError::Execution(m) => Some((Variant::Data, m.clone())),
        DataFusionError::Internal(m) => Some((Variant::Internal, m.clone())),
        DataFusionError::External(e) => Some((Variant::External, e.to_string())),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::CastError(m)
            | ArrowError::ParseError(m)
            | ArrowError::InvalidArgumentError(m) => Some((Variant::Data, m.clone())),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn every_text_rule_is_provoked_by_its_example() {
    for rule in TEXT_RULES {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT NOT NULL, b VARCHAR)")
            .await
            .expect("create")
            .collect()
            .await
            .expect("created");
        let result = match ctx.sql(rule.example).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        let error = result.expect_err(rule.example);
        let (variant, message) = variant_of(&error)
            .unwrap_or_else(|| panic!("{}: unexpected error {error:?}", rule.example));
        let found = kind_by_text(variant, &message)
            .unwrap_or_else(|| panic!("{}: no rule matches {variant:?} {message:?}", rule.example));
        assert!(
            std::ptr::eq(found, rule),
            "{}: matched another rule ({:?}) for {message:?}",
            rule.example,
            found.kind
        );
        assert_eq!(
            QueryError::from(error).kind,
            rule.kind,
            "{}: classified differently",
            rule.example
        );
    }
}
