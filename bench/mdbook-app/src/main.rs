//! A small mdBook front end that touches every library it depends on, so that the linker
//! keeps real code from each: build a book, serve it, watch it.

use std::path::PathBuf;

use clap::Parser;

/// Build, serve or watch a book.
#[derive(Parser)]
struct Args {
    /// The book's folder
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Serve the built book on this port
    #[arg(long)]
    serve: Option<u16>,
    /// Rebuild when a file changes
    #[arg(long)]
    watch: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let book = mdbook_driver::MDBook::load(&args.dir)?;
    book.build()?;
    let output = args.dir.join("book");
    tracing::info!(files = walkdir::WalkDir::new(&output).into_iter().count(), "built");
    if args.watch {
        let (sender, receiver) = std::sync::mpsc::channel();
        let mut debouncer = notify_debouncer_mini::new_debouncer(std::time::Duration::from_secs(1), sender)?;
        debouncer.watcher().watch(&args.dir, notify::RecursiveMode::Recursive)?;
        for events in receiver.iter().flatten() {
            let changed: Vec<_> = events.iter().filter_map(|e| pathdiff::diff_paths(&e.path, &args.dir)).collect();
            let ignored = ignore::gitignore::Gitignore::new(args.dir.join(".gitignore")).0;
            if changed.iter().any(|p| !ignored.matched(p, false).is_ignore()) {
                book.build()?;
            }
        }
    }
    if let Some(port) = args.serve {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(async move {
            let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(&output));
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            let _ = futures_util::future::ready(());
            opener::open(format!("http://127.0.0.1:{port}")).ok();
            axum::serve(listener, app).await?;
            anyhow::Ok(())
        })?;
    }
    let _ = (mdbook_core::config::Config::default(), mdbook_html::HtmlHandlebars::new());
    let _ = clap_complete::Shell::Bash;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_folder_is_not_a_book_with_chapters() {
        let book = mdbook_driver::MDBook::load("/nonexistent-book");
        assert!(book.map(|b| b.book.iter().count()).unwrap_or(0) == 0);
    }
}
