//! The storage under every Iceberg catalog's FileIO: `s3://` and `s3a://` paths go to
//! S3-compatible object storage through object_store (the client DataFusion and the
//! files catalogs use), one store per bucket; every other path to the local file
//! system. So a warehouse, or a REST catalog's tables, may live on S3.
//!
//! S3 settings come from the catalog's `options` (object_store's `aws_*` names) over
//! the FileIO properties an Iceberg catalog hands out (`s3.endpoint`, `s3.region`,
//! `s3.access-key-id`, `s3.secret-access-key`, `s3.session-token`,
//! `s3.path-style-access`: a REST catalog's vended settings), over the `AWS_*`
//! environment variables.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, LocalFsStorage, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::aws::AmazonS3ConfigKey;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use crate::config::redacted_options;
use crate::metadata_cache::{
    cached_metadata, forget_metadata, is_immutable_metadata, keep_metadata,
};

/// The Iceberg property names of S3 settings and the object_store options they set.
const S3_PROPERTIES: [(&str, &str); 6] = [
    ("s3.endpoint", "aws_endpoint"),
    ("s3.region", "aws_region"),
    ("client.region", "aws_region"),
    ("s3.access-key-id", "aws_access_key_id"),
    ("s3.secret-access-key", "aws_secret_access_key"),
    ("s3.session-token", "aws_session_token"),
];

/// Checks that every key of `options` is one of object_store's S3 options.
pub(crate) fn check_s3_options(
    options: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    for key in options.keys() {
        key.parse::<AmazonS3ConfigKey>()
            .map_err(|e| format!("option {key}: {e}"))?;
    }
    Ok(())
}

/// Builds [`LakeStorage`] for a FileIO: the catalog's options over its properties.
#[derive(Clone, Default)]
pub(crate) struct LakeStorageFactory {
    options: BTreeMap<String, String>,
}

impl LakeStorageFactory {
    /// A factory whose S3 stores take `options` (object_store's `aws_*` names) first.
    pub(crate) fn new(options: BTreeMap<String, String>) -> Self {
        Self { options }
    }
}

impl std::fmt::Debug for LakeStorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeStorageFactory")
            .field("options", &redacted_options(&self.options))
            .finish()
    }
}

// iceberg registers storages and their factories for serialization; these hold
// credentials, so they refuse to be serialized (nothing in this process needs it).
macro_rules! not_serializable {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(
                &self,
                _: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom(
                    "a storage with credentials is not serialized",
                ))
            }
        }
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(
                _: D,
            ) -> std::result::Result<Self, D::Error> {
                Err(serde::de::Error::custom(
                    "a storage with credentials is not deserialized",
                ))
            }
        }
    };
}
not_serializable!(LakeStorageFactory);
not_serializable!(LakeStorage);

#[typetag::serde]
impl StorageFactory for LakeStorageFactory {
    fn build(&self, config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        let mut options = BTreeMap::new();
        for (property, option) in S3_PROPERTIES {
            if let Some(value) = config.get(property) {
                options.insert(option.to_string(), value.clone());
            }
        }
        if let Some(path_style) = config.get("s3.path-style-access") {
            let virtual_hosted = !path_style.eq_ignore_ascii_case("true");
            options.insert(
                "aws_virtual_hosted_style_request".into(),
                virtual_hosted.to_string(),
            );
        }
        if let Some(endpoint) = options.get("aws_endpoint")
            && endpoint.starts_with("http://")
        {
            options.insert("aws_allow_http".into(), "true".into());
        }
        options.extend(self.options.clone());
        Ok(Arc::new(LakeStorage {
            options,
            buckets: Arc::new(Mutex::new(HashMap::new())),
            local: LocalFsStorage::new(),
        }))
    }
}

/// Routes each path to S3 (by bucket) or to the local file system.
#[derive(Clone)]
pub(crate) struct LakeStorage {
    options: BTreeMap<String, String>,
    buckets: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
    local: LocalFsStorage,
}

impl std::fmt::Debug for LakeStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeStorage")
            .field("options", &redacted_options(&self.options))
            .finish()
    }
}

fn store_error(path: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
    move |e| {
        let kind = match e {
            object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
            _ => ErrorKind::Unexpected,
        };
        Error::new(kind, format!("object storage, {path}")).with_source(e)
    }
}

impl LakeStorage {
    /// The whole file at `path`, from storage.
    async fn read_uncached(&self, path: &str) -> Result<Bytes> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.read(path).await;
        };
        store
            .get(&key)
            .await
            .map_err(store_error(path))?
            .bytes()
            .await
            .map_err(store_error(path))
    }

    /// The store and key of an `s3://` path; `None` for a local path.
    fn object(&self, path: &str) -> Result<Option<(Arc<dyn ObjectStore>, Path)>> {
        let Some(rest) = path
            .strip_prefix("s3://")
            .or_else(|| path.strip_prefix("s3a://"))
        else {
            return Ok(None);
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!("{path}: no bucket"),
            ));
        }
        let key = Path::parse(key).unwrap_or_else(|_| Path::from(key));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = buckets.get(bucket) {
            return Ok(Some((store.clone(), key)));
        }
        let mut builder = crate::s3::builder(bucket);
        for (name, value) in &self.options {
            let name = name.parse::<AmazonS3ConfigKey>().map_err(|e| {
                Error::new(ErrorKind::DataInvalid, format!("S3 option {name}: {e}"))
            })?;
            builder = builder.with_config(name, value);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|e| {
            Error::new(ErrorKind::DataInvalid, format!("S3 bucket {bucket}")).with_source(e)
        })?);
        buckets.insert(bucket.to_string(), store.clone());
        Ok(Some((store, key)))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for LakeStorage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.exists(path).await;
        };
        match store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(path)(e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.metadata(path).await;
        };
        let meta = store.head(&key).await.map_err(store_error(path))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        // Table metadata, manifest lists and manifests never change once written: read
        // once (checked by size, a stat or HEAD), then served from memory.
        if !is_immutable_metadata(path) {
            return self.read_uncached(path).await;
        }
        let size = self.metadata(path).await?.size;
        if let Some(bytes) = cached_metadata(path, size) {
            return Ok(bytes);
        }
        let bytes = self.read_uncached(path).await?;
        keep_metadata(path, bytes.clone());
        Ok(bytes)
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.reader(path).await;
        };
        Ok(Box::new(ObjectRead {
            store,
            key,
            path: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.write(path, bs).await;
        };
        store
            .put(&key, bs.into())
            .await
            .map(|_| ())
            .map_err(store_error(path))
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.writer(path).await;
        };
        Ok(Box::new(ObjectWrite {
            writer: Some(BufWriter::new(store, key)),
            path: path.to_string(),
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        forget_metadata(path);
        let Some((store, key)) = self.object(path)? else {
            return self.local.delete(path).await;
        };
        match store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(path)(e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let Some((store, key)) = self.object(path)? else {
            return self.local.delete_prefix(path).await;
        };
        let mut listed = store.list(Some(&key));
        while let Some(object) = listed.next().await {
            let object = object.map_err(store_error(path))?;
            match store.delete(&object.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(path)(e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Ranged reads of one object.
struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    key: Path,
    path: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(store_error(&self.path))
    }
}

/// One object written in parts (multipart above object_store's buffer size).
struct ObjectWrite {
    writer: Option<BufWriter>,
    path: String,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        let writer = self.writer.as_mut().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{}: written after close", self.path),
            )
        })?;
        writer.put(bs).await.map_err(store_error(&self.path))
    }

    async fn close(&mut self) -> Result<()> {
        let mut writer = self.writer.take().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                format!("{}: closed twice", self.path),
            )
        })?;
        writer.shutdown().await.map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("object storage, {}: completing the upload", self.path),
            )
            .with_source(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iceberg_properties_map_to_object_store_options_and_config_wins() {
        let factory = LakeStorageFactory::new(BTreeMap::from([(
            "aws_region".to_string(),
            "eu-west-1".to_string(),
        )]));
        let config = StorageConfig::from_props(HashMap::from([
            (
                "s3.endpoint".to_string(),
                "http://127.0.0.1:9000".to_string(),
            ),
            ("s3.region".to_string(), "us-east-1".to_string()),
            ("s3.path-style-access".to_string(), "true".to_string()),
            ("s3.secret-access-key".to_string(), "hunter2".to_string()),
        ]));
        let storage = factory.build(&config).expect("storage");
        let shown = format!("{storage:?}");
        assert!(shown.contains("aws_endpoint"), "{shown}");
        assert!(
            shown.contains("eu-west-1") && !shown.contains("us-east-1"),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("aws_allow_http"), "{shown}");
        assert!(check_s3_options(&BTreeMap::from([("aws_nope".into(), "x".into())])).is_err());
    }
}
