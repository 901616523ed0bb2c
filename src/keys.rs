//! `newsdesk keys`: API keys managed straight in the database, so that the
//! first admin key needs no key to make.

use anyhow::Context;

use crate::{
    config::{KeysArgs, KeysCommand},
    domain::{
        access::{Actor, Role},
        key::NewKey,
    },
    server::open_store,
};

/// Runs a `newsdesk keys` command, printing what it made for the operator.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let store = open_store(&args.database).await?;
    match args.command {
        KeysCommand::Create {
            name,
            role,
            author_id,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("`{role}` is not a role: admin, editor, writer or subscriber")
            })?;
            let new = NewKey::new(&name, role, author_id)
                .map_err(|violations| anyhow::anyhow!("{violations}"))?;
            let (key, token) = store
                .insert_key(&Actor::system("cli"), new)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            eprintln!(
                "created the {} key `{}` ({}); its token is shown only now:",
                key.role.as_str(),
                key.name,
                key.id
            );
            println!("{token}");
        }
        KeysCommand::Revoke { id } => {
            let key = store
                .revoke_key(&id)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            eprintln!("revoked the key `{}` ({})", key.name, key.id);
        }
    }
    store.close().await;
    Ok(())
}
