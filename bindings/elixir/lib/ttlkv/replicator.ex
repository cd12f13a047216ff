defmodule TTLKV.Replicator do
  @moduledoc """
  Replicates one `TTLKV` store to the stores of the same group on the other nodes of the
  cluster, over Erlang distribution. `TTLKV.PowCache` starts one when it replicates; any store
  can have one.

  Every node keeps a full store. Conflicts resolve last-writer-wins on each record's
  `{version, origin}` (the store's hybrid logical clock, then the store id), so every node
  settles on the same record whatever order messages arrive in; deletes are tombstones (the
  store is made replicating, `TTLKV.set_replicated/2`) that outlive every write they must
  beat, so a logout never comes back; expiry sends nothing (deadlines travel in the records,
  every node expires on its own).

  ## How it works

    * Peers are found through an OTP `:pg` scope per group, started by this process: a
      replicator joins its group there, and membership follows distribution as nodes connect,
      leave and come back.
    * `replicate/4` pushes the records a caller just wrote. With `:sync` it returns once
      every connected peer applied them, or after the timeout (a slow or partitioned peer is
      then repaired by anti-entropy); with `:async` it returns at once and records are
      batched. Only this process sends: pushes use `:nosuspend`, so neither it nor a caller
      ever blocks on a busy distribution port (a peer whose port is busy is left to
      anti-entropy).
    * Anti-entropy runs when a peer appears (a join, a late join, a reconnect after a split),
      every `:interval` milliseconds, and on `sync/2`: the two stores exchange per-bucket
      digests, then the versions of the differing buckets, then each side sends the records
      it holds newer. Nothing is ever wiped: both sides end with the union, newer winning.
      Writes made by other OS processes on the same store (Python, C) reach the peers this
      way, within one interval.
  """
  use GenServer

  require Logger

  @buckets 1024
  # Records that expire within this many ms are left out of a comparison: two stores may see
  # them on either side of their deadline.
  @cutoff_margin 1_000
  @chunk 10_000
  # Buckets (of 1,024) fetched whole per call: a 32nd of the store.
  @buckets_per_call 32
  # Records per push message: well under the distribution's busy limit (1 MB by default).
  @push_chunk 1_000
  # How soon a push that met a busy distribution port is tried again (ms).
  @retry_ms 2
  @call_timeout 30_000

  @type option ::
          {:store, TTLKV.t()}
          | {:group, atom()}
          | {:interval, pos_integer()}
          | {:name, GenServer.name()}

  @doc """
  Starts a replicator for `:store` in `:group` (an atom naming the store cluster-wide: every
  node's replicator of the same group replicates with the others). `:interval` is the
  anti-entropy period in ms (default 10,000).
  """
  @spec start_link([option()]) :: GenServer.on_start()
  def start_link(opts) do
    gen_opts = if name = opts[:name], do: [name: name], else: []
    GenServer.start_link(__MODULE__, opts, gen_opts)
  end

  @doc """
  Sends `records` (from `TTLKV.records/2`, just written here) to every connected peer. `:sync`
  waits until each applied them or `timeout` ms passed; `:async` returns at once.
  """
  @spec replicate(GenServer.server(), [TTLKV.replica_record()], :sync | :async, timeout()) :: :ok
  def replicate(_server, [], _mode, _timeout), do: :ok

  def replicate(server, records, :async, _timeout) do
    send(server, {:ttlkv_local, records})
    :ok
  end

  def replicate(server, records, :sync, timeout) do
    GenServer.call(server, {:replicate, records, timeout}, :infinity)
  end

  @doc """
  Runs anti-entropy with every peer now and returns when it finished (or `timeout` ms passed):
  `{:ok, peers_synced}`.
  """
  @spec sync(GenServer.server(), timeout()) :: {:ok, non_neg_integer()} | {:error, :timeout}
  def sync(server, timeout \\ 30_000) do
    GenServer.call(server, {:sync, timeout}, :infinity)
  end

  @doc "The replicators of the other nodes this one replicates with."
  @spec peers(GenServer.server()) :: [pid()]
  def peers(server), do: GenServer.call(server, :peers)

  @doc """
  Counters: pushes sent, records merged from peers, anti-entropy rounds and records, sync
  pushes some peer did not answer in time (`laggards`), and sends a busy distribution port
  turned away (`busy`: each such push waits in a backlog and is tried again).
  """
  @spec stats(GenServer.server()) :: map()
  def stats(server), do: GenServer.call(server, :stats)

  @doc false
  # The :pg scope of a group.
  def scope(group), do: :"ttlkv_pg.#{group}"

  # --- the process ----------------------------------------------------------------------

  @impl GenServer
  def init(opts) do
    store = Keyword.fetch!(opts, :store)
    group = Keyword.fetch!(opts, :group)
    interval = Keyword.get(opts, :interval, 10_000)
    :ok = TTLKV.set_replicated(store, true)
    scope = scope(group)
    {:ok, scope_pid} = start_scope(scope, 50)
    {ref, _} = :pg.monitor_scope(scope)
    :ok = :pg.join(scope, group, self())
    Process.flag(:trap_exit, true)
    Process.send_after(self(), :anti_entropy, interval)

    state = %{
      store: store,
      group: group,
      scope: scope,
      scope_pid: scope_pid,
      monitor: ref,
      interval: interval,
      peers: MapSet.new(peers_of(scope, group)),
      pending: %{},
      outbox: [],
      # Per peer, pushes that met a busy port, oldest first: tried again soon, in order.
      backlog: %{},
      retry_armed: false,
      ae: nil,
      ae_waiting: [],
      ae_next: [],
      ae_again: false,
      stats: %{pushed: 0, merged: 0, ae_rounds: 0, ae_records: 0, laggards: 0, busy: 0}
    }

    {:ok, start_anti_entropy(state, :mine)}
  end

  # A scope of a stopped replicator may still be going down: wait for its name.
  defp start_scope(scope, tries) do
    case :pg.start_link(scope) do
      {:ok, pid} ->
        {:ok, pid}

      {:error, {:already_started, _}} when tries > 0 ->
        Process.sleep(20)
        start_scope(scope, tries - 1)

      other ->
        other
    end
  end

  defp peers_of(scope, group), do: :pg.get_members(scope, group) -- [self()]

  @impl GenServer
  def handle_call({:replicate, records, timeout}, from, state) do
    state = flush_outbox(state)
    peers = MapSet.to_list(state.peers)

    if peers == [] do
      {:reply, :ok, state}
    else
      ref = make_ref()

      # A peer not connected any more is not waited for (anti-entropy repairs it).
      {state, waiting} =
        Enum.reduce(peers, {state, MapSet.new()}, fn p, {st, w} ->
          case send_push(st, p, {:ttlkv_push, self(), ref, records}) do
            {st, true} -> {st, MapSet.put(w, p)}
            {st, false} -> {st, w}
          end
        end)

      state = bump(state, :pushed, length(peers))

      if MapSet.size(waiting) == 0 do
        {:reply, :ok, state}
      else
        timer = Process.send_after(self(), {:ttlkv_timeout, ref}, timeout)
        {:noreply, %{state | pending: Map.put(state.pending, ref, {from, waiting, timer})}}
      end
    end
  end

  def handle_call({:sync, timeout}, from, state) do
    timer = Process.send_after(self(), {:ttlkv_sync_timeout, from}, timeout)

    # Answered by a round that starts after this call: the next one when one is running.
    if state.ae do
      {:noreply, %{state | ae_next: [{from, timer} | state.ae_next], ae_again: :all}}
    else
      {:noreply, start_anti_entropy(%{state | ae_waiting: [{from, timer}]}, :all)}
    end
  end

  def handle_call(:peers, _from, state), do: {:reply, MapSet.to_list(state.peers), state}
  def handle_call(:stats, _from, state), do: {:reply, state.stats, state}

  # A peer's anti-entropy asks for our versions of the buckets its digest differs in.
  # A peer's anti-entropy sends its digest: the buckets that differ, split three ways: empty
  # on its side (it takes them whole), empty on ours (it sends them whole), and the others,
  # with our versions of them to compare.
  def handle_call({:ttlkv_ae, :versions, buckets, cutoff, their_digest}, _from, state) do
    reply =
      with {:ok, mine} <- TTLKV.digest(state.store, buckets, cutoff) do
        {theirs_empty, mine_empty, both} = split_differing(mine, their_digest)

        with {:ok, versions} <- versions_of(state.store, buckets, both, cutoff) do
          {:ok, both, Enum.map(versions, &order/1), theirs_empty, mine_empty}
        end
      end

    {:reply, reply, state}
  end

  def handle_call({:ttlkv_ae, :bucket_records, buckets, which, cutoff}, _from, state) do
    {:reply, TTLKV.bucket_records(state.store, buckets, which, cutoff), state}
  end

  def handle_call({:ttlkv_ae, :records, keys}, _from, state) do
    {:reply, TTLKV.records(state.store, keys), state}
  end

  def handle_call({:ttlkv_ae, :merge, records}, _from, state) do
    {:reply, merge(state, records), bump(state, :merged, length(records))}
  end

  @impl GenServer
  def handle_info({:ttlkv_local, records}, state) do
    # Async writes: gathered while the messages already queued are handled, then pushed as
    # one batch per peer. The flush is a message to self, not a GenServer timeout: any other
    # message or call in between (a retry, an ack, a peer's push, `stats/1`) would cancel a
    # timeout and leave the batch unsent until the next local write.
    if state.outbox == [], do: send(self(), :ttlkv_flush)
    {:noreply, %{state | outbox: [records | state.outbox]}}
  end

  def handle_info(:ttlkv_flush, state), do: {:noreply, flush_outbox(state)}

  def handle_info(:ttlkv_retry, state) do
    state = Enum.reduce(Map.keys(state.backlog), %{state | retry_armed: false}, &drain(&2, &1))
    {:noreply, arm_retry(state)}
  end

  def handle_info({:ttlkv_push, from, ref, records}, state) do
    state =
      case merge(state, records) do
        {:ok, _} when ref != nil ->
          state |> send_push(from, {:ttlkv_ack, ref, self()}) |> elem(0)

        {:ok, _} ->
          state

        {:error, reason} ->
          # No ack: the writer's wait ends at its timeout, and anti-entropy tries again.
          Logger.error(
            "TTLKV.Replicator #{state.group}: merge of a push failed: #{inspect(reason)}"
          )

          state
      end

    {:noreply, bump(state, :merged, length(records))}
  end

  def handle_info({:ttlkv_ack, ref, peer}, state), do: {:noreply, acked(state, ref, peer)}

  def handle_info({:ttlkv_timeout, ref}, state) do
    case Map.pop(state.pending, ref) do
      {nil, _} ->
        {:noreply, state}

      {{from, waiting, _timer}, pending} ->
        # The laggards are repaired by anti-entropy, now.
        GenServer.reply(from, :ok)
        state = bump(%{state | pending: pending}, :laggards, MapSet.size(waiting))
        {:noreply, anti_entropy_soon(state, :all)}
    end
  end

  def handle_info({ref, :join, _group, pids}, %{monitor: ref} = state) do
    new = Enum.reject(pids, &(&1 == self()))
    state = %{state | peers: Enum.into(new, state.peers)}
    # A node came (a join, a late join, a reconnect after a split): compare at once.
    {:noreply, anti_entropy_soon(state, :mine)}
  end

  def handle_info({ref, :leave, _group, pids}, %{monitor: ref} = state) do
    state = %{
      state
      | peers: Enum.reduce(pids, state.peers, &MapSet.delete(&2, &1)),
        backlog: Map.drop(state.backlog, pids)
    }

    {:noreply, Enum.reduce(pids, state, fn p, st -> drop_peer(st, p) end)}
  end

  def handle_info(:anti_entropy, state) do
    Process.send_after(self(), :anti_entropy, state.interval)
    {:noreply, if(state.ae, do: state, else: start_anti_entropy(state, :mine))}
  end

  def handle_info({:ttlkv_ae_done, pid, result}, %{ae: pid} = state) do
    state =
      case result do
        {:ok, n_records} ->
          bump(bump(state, :ae_rounds, 1), :ae_records, n_records)

        _ ->
          state
      end

    synced = MapSet.size(state.peers)

    for {from, timer} <- state.ae_waiting do
      Process.cancel_timer(timer)
      GenServer.reply(from, {:ok, synced})
    end

    state = %{state | ae: nil, ae_waiting: state.ae_next, ae_next: []}

    case state.ae_again do
      false -> {:noreply, state}
      which -> {:noreply, start_anti_entropy(%{state | ae_again: false}, which)}
    end
  end

  def handle_info({:ttlkv_sync_timeout, from}, state) do
    case {List.keytake(state.ae_waiting, from, 0), List.keytake(state.ae_next, from, 0)} do
      {{{^from, _}, rest}, _} ->
        GenServer.reply(from, {:error, :timeout})
        {:noreply, %{state | ae_waiting: rest}}

      {nil, {{^from, _}, rest}} ->
        GenServer.reply(from, {:error, :timeout})
        {:noreply, %{state | ae_next: rest}}

      _ ->
        {:noreply, state}
    end
  end

  def handle_info({:EXIT, pid, reason}, %{ae: pid} = state) do
    # The round crashed (a peer vanished mid-way, say): the next one repairs.
    Logger.warning("TTLKV.Replicator #{state.group}: anti-entropy failed: #{inspect(reason)}")
    handle_info({:ttlkv_ae_done, pid, {:error, reason}}, state)
  end

  def handle_info({:EXIT, _pid, reason}, state) when reason in [:normal, :shutdown] do
    {:noreply, state}
  end

  def handle_info({:EXIT, _pid, reason}, state), do: {:stop, reason, state}
  def handle_info(_other, state), do: {:noreply, state}

  @impl GenServer
  def terminate(_reason, state) do
    for {_ref, {from, _, timer}} <- state.pending do
      Process.cancel_timer(timer)
      GenServer.reply(from, :ok)
    end

    # The scope goes with us (a normal exit does not take a linked process down): a
    # replicator started again finds its name free, and the peers see us leave at once.
    stop_scope(state.scope_pid)
    :ok
  end

  defp stop_scope(pid) do
    GenServer.stop(pid, :normal, 5_000)
  catch
    :exit, _ -> :ok
  end

  # --- pushes ---------------------------------------------------------------------------

  defp flush_outbox(%{outbox: []} = state), do: state

  defp flush_outbox(state) do
    records = state.outbox |> Enum.reverse() |> Enum.concat()
    state = %{state | outbox: []}

    for chunk <- Enum.chunk_every(records, @push_chunk), p <- state.peers, reduce: state do
      st -> st |> send_push(p, {:ttlkv_push, self(), nil, chunk}) |> elem(0) |> bump(:pushed, 1)
    end
  end

  # A push to one peer, behind any of its backlog: one the port is too busy for now waits in
  # the backlog (this process never suspends) and is tried again in @retry_ms. A peer that
  # is not connected gets nothing: anti-entropy brings it up to date when it is back.
  # Returns {state, whether the message was sent or queued}.
  defp send_push(state, peer, msg) do
    case Map.fetch(state.backlog, peer) do
      {:ok, queue} ->
        {%{state | backlog: Map.put(state.backlog, peer, :queue.in(msg, queue))}, true}

      :error ->
        case :erlang.send(peer, msg, [:noconnect, :nosuspend]) do
          :ok -> {state, true}
          :nosuspend -> {backlog(state, peer, :queue.from_list([msg])), true}
          :noconnect -> {state, false}
        end
    end
  end

  defp backlog(state, peer, queue) do
    arm_retry(bump(%{state | backlog: Map.put(state.backlog, peer, queue)}, :busy, 1))
  end

  # One retry timer while anything waits in a backlog.
  defp arm_retry(%{retry_armed: false, backlog: backlog} = state) when map_size(backlog) > 0 do
    Process.send_after(self(), :ttlkv_retry, @retry_ms)
    %{state | retry_armed: true}
  end

  defp arm_retry(state), do: state

  defp drain(state, peer) do
    queue = Map.fetch!(state.backlog, peer)
    state = %{state | backlog: Map.delete(state.backlog, peer)}
    drain(state, peer, queue)
  end

  defp drain(state, peer, queue) do
    case :queue.out(queue) do
      {:empty, _} ->
        state

      {{:value, msg}, rest} ->
        case :erlang.send(peer, msg, [:noconnect, :nosuspend]) do
          :nosuspend -> backlog(state, peer, queue)
          _ -> drain(state, peer, rest)
        end
    end
  end

  defp acked(state, ref, peer) do
    case Map.fetch(state.pending, ref) do
      {:ok, {from, waiting, timer}} ->
        waiting = MapSet.delete(waiting, peer)

        if MapSet.size(waiting) == 0 do
          Process.cancel_timer(timer)
          GenServer.reply(from, :ok)
          %{state | pending: Map.delete(state.pending, ref)}
        else
          %{state | pending: Map.put(state.pending, ref, {from, waiting, timer})}
        end

      :error ->
        state
    end
  end

  defp drop_peer(state, peer) do
    Enum.reduce(Map.keys(state.pending), state, fn ref, st -> acked(st, ref, peer) end)
  end

  defp merge(state, records) do
    records
    |> Enum.chunk_every(@chunk)
    |> Enum.reduce_while({:ok, 0}, fn chunk, {:ok, n} ->
      case TTLKV.merge(state.store, chunk) do
        {:ok, m} -> {:cont, {:ok, n + m}}
        error -> {:halt, error}
      end
    end)
  end

  defp bump(state, key, n), do: %{state | stats: Map.update!(state.stats, key, &(&1 + n))}

  # --- anti-entropy ---------------------------------------------------------------------

  # An exchange compares both stores and sends both ways, so of two peers only the one of the
  # lower node name starts one on its own (a join, the timer: `:mine`); a sync/2 or a sync
  # write that timed out compares with every peer (`:all`).
  defp anti_entropy_soon(%{ae: nil} = state, which), do: start_anti_entropy(state, which)
  defp anti_entropy_soon(%{ae_again: :all} = state, _which), do: state
  defp anti_entropy_soon(state, which), do: %{state | ae_again: which}

  defp start_anti_entropy(state, which) do
    peers = MapSet.to_list(state.peers)
    peers = if which == :all, do: peers, else: Enum.filter(peers, &(node(&1) > node()))
    me = self()
    store = state.store

    if peers == [] do
      # Nothing to compare: a sync/2 waiting is answered by this message.
      send(me, {:ttlkv_ae_done, nil, {:ok, 0}})
      %{state | ae: nil}
    else
      pid = spawn_link(fn -> send(me, {:ttlkv_ae_done, self(), anti_entropy(store, peers)}) end)
      %{state | ae: pid}
    end
  end

  defp anti_entropy(store, peers) do
    Enum.reduce(peers, {:ok, 0}, fn peer, {:ok, n} ->
      case exchange(store, peer) do
        {:ok, m} -> {:ok, n + m}
        {:error, _} -> {:ok, n}
      end
    end)
  end

  # One exchange with one peer: our digest; its versions of the buckets that differ; then we
  # send what we hold newer and fetch what it holds newer.
  defp exchange(store, peer) do
    cutoff = System.os_time(:millisecond) + @cutoff_margin

    with {:ok, digest} <- TTLKV.digest(store, @buckets, cutoff),
         {:ok, both, theirs, mine_empty, theirs_empty} <-
           GenServer.call(peer, {:ttlkv_ae, :versions, @buckets, cutoff, digest}, @call_timeout) do
      # Buckets one side has nothing in travel whole, a few at a time.
      pulled =
        for chunk <- Enum.chunk_every(mine_empty, @buckets_per_call), reduce: 0 do
          n ->
            {:ok, records} =
              GenServer.call(
                peer,
                {:ttlkv_ae, :bucket_records, @buckets, chunk, cutoff},
                @call_timeout
              )

            :ok = merge_chunks(store, records)
            n + length(records)
        end

      pushed =
        for chunk <- Enum.chunk_every(theirs_empty, @buckets_per_call), reduce: 0 do
          n ->
            {:ok, records} = TTLKV.bucket_records(store, @buckets, chunk, cutoff)

            for part <- Enum.chunk_every(records, @chunk) do
              {:ok, _} = GenServer.call(peer, {:ttlkv_ae, :merge, part}, @call_timeout)
            end

            n + length(records)
        end

      {:ok, pulled + pushed + compare(store, peer, both, theirs, cutoff)}
    end
  catch
    :exit, reason -> {:error, reason}
  end

  # The buckets both sides hold records in: versions compared, only the newer records sent.
  defp compare(_store, _peer, [], _theirs, _cutoff), do: 0

  defp compare(store, peer, both, theirs, cutoff) do
    {:ok, mine} = TTLKV.versions(store, @buckets, both, cutoff)
    mine = Map.new(mine, &order/1)
    theirs = Map.new(theirs)
    push = for {k, o} <- mine, newer?(o, Map.get(theirs, k)), do: k
    pull = for {k, o} <- theirs, newer?(o, Map.get(mine, k)), do: k

    for keys <- Enum.chunk_every(push, @chunk) do
      {:ok, records} = TTLKV.records(store, keys)
      {:ok, _} = GenServer.call(peer, {:ttlkv_ae, :merge, records}, @call_timeout)
    end

    for keys <- Enum.chunk_every(pull, @chunk) do
      {:ok, records} = GenServer.call(peer, {:ttlkv_ae, :records, keys}, @call_timeout)
      :ok = merge_chunks(store, records)
    end

    length(push) + length(pull)
  end

  defp merge_chunks(store, records) do
    Enum.each(Enum.chunk_every(records, @chunk), fn part -> {:ok, _} = TTLKV.merge(store, part) end)
  end

  defp versions_of(_store, _buckets, [], _cutoff), do: {:ok, []}
  defp versions_of(store, buckets, which, cutoff), do: TTLKV.versions(store, buckets, which, cutoff)

  defp newer?(_order, nil), do: true
  defp newer?(order, other), do: order > other

  defp order({ns, key, _value, _deadline, version, origin, _tombstone}),
    do: {{ns, key}, {version, origin}}

  # {empty on their side, empty on ours, non-empty on both} of the buckets whose hashes differ
  # (a bucket of records hashes to 0 with probability 2^-64: taken as empty, it is sent whole
  # and merged, which changes nothing).
  defp split_differing(mine, theirs) when byte_size(mine) == byte_size(theirs),
    do: split_differing(mine, theirs, 0, {[], [], []})

  defp split_differing(<<a::64, rest_a::binary>>, <<b::64, rest_b::binary>>, i, {te, me, both}) do
    acc =
      cond do
        a == b -> {te, me, both}
        b == 0 -> {[i | te], me, both}
        a == 0 -> {te, [i | me], both}
        true -> {te, me, [i | both]}
      end

    split_differing(rest_a, rest_b, i + 1, acc)
  end

  defp split_differing(<<>>, <<>>, _i, {te, me, both}),
    do: {Enum.reverse(te), Enum.reverse(me), Enum.reverse(both)}
end
