# Tests that spawn other OS processes, count handles or measure timing run in sync modules.
Logger.configure(level: :warning)

# The doctests' stores live in ttlkv-doc-* directories under the tmp dir.
clean_doc_dirs = fn ->
  System.tmp_dir!() |> Path.join("ttlkv-doc-*") |> Path.wildcard() |> Enum.each(&File.rm_rf/1)
end

clean_doc_dirs.()
ExUnit.after_suite(fn _ -> clean_doc_dirs.() end)

ExUnit.start()
