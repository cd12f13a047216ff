defmodule TTLKV.PowCache.KeyTest do
  use ExUnit.Case, async: true
  doctest TTLKV.PowCache.Key

  alias TTLKV.PowCache.Key

  defp sample_keys do
    fixed = [
      "",
      "a",
      <<0>>,
      <<0, 0>>,
      <<0, 1>>,
      <<0, 1, 131>>,
      <<1>>,
      <<131, 104>>,
      [],
      [""],
      [<<0>>],
      ["user", 1],
      ["user", :_],
      ["user", 1, "session"],
      [:a],
      [1],
      [["nested"]],
      ["a", "b"],
      ["a" | "b"]
    ]

    random =
      for _ <- 1..2_000 do
        case :rand.uniform(3) do
          1 -> :crypto.strong_rand_bytes(:rand.uniform(6) - 1)
          2 -> for _ <- 1..:rand.uniform(3), do: :crypto.strong_rand_bytes(:rand.uniform(3) - 1)
          3 -> [:crypto.strong_rand_bytes(2), :rand.uniform(1000), :atom]
        end
      end

    fixed ++ random
  end

  # Pow's identity: key and [key] are one key.
  defp canonical([b]) when is_binary(b), do: b
  defp canonical(k), do: k

  test "different keys never share bytes; the same key always gives the same bytes" do
    keys = sample_keys() |> Enum.map(&canonical/1) |> Enum.uniq()
    encoded = Enum.map(keys, &Key.encode/1)
    assert length(Enum.uniq(encoded)) == length(keys)
    assert Enum.map(keys, &Key.encode/1) == encoded
  end

  test "decode inverts encode" do
    for key <- sample_keys() do
      assert Key.decode(Key.encode(key)) == canonical(key)
    end
  end

  test "binary keys not starting with NUL are stored as-is" do
    for key <- sample_keys(), is_binary(key), not match?(<<0, _::binary>>, key) do
      assert Key.encode(key) == key
    end
  end

  test "match_prefix is a prefix of every key its match can match" do
    keys = TTLKV.TestHelpers.pow_keys() ++ sample_keys()

    with_prefix =
      for m <- TTLKV.TestHelpers.pow_matches(), {:ok, p} <- [Key.match_prefix(m)], do: {m, p}

    assert length(with_prefix) >= 15

    matched =
      for {m, prefix} <- with_prefix, key <- keys, matches?(m, key) do
        assert String.starts_with?(Key.encode(key), prefix), "#{inspect(key)} vs #{inspect(m)}"
        key
      end

    # Not vacuous: the prefixed matches do match keys, and leave others out.
    assert length(Enum.uniq(matched)) >= 20
    {m, prefix} = hd(for {m, p} <- with_prefix, m == [MyApp.Users.User, :user, :_], do: {m, p})
    assert Enum.count(keys, &String.starts_with?(Key.encode(&1), prefix)) == 9
    assert Enum.count(keys, &matches?(m, &1)) == 9
  end

  test "match_prefix is :none where the bound segments fix no byte prefix" do
    for m <- [
          :_,
          ["user" | :_],
          [:_, :session],
          [:"$1", :user],
          [1, 2, :_],
          [1, :_],
          "key",
          ["key"],
          <<0, 1>>,
          [%{a: 1}, :_],
          [1.0, :_],
          [{:t, :_}, :x],
          [self(), :_]
        ] do
      assert Key.match_prefix(m) == :none, inspect(m)
    end

    # A bound segment before an unbound one still counts.
    assert {:ok, _} = Key.match_prefix([:user, %{a: 1}])
    assert {:ok, _} = Key.match_prefix([1, 300, :_])
    assert {:ok, _} = Key.match_prefix([:a])
  end

  defp matches?(:_, _key), do: true

  defp matches?(m, key) do
    spec = :ets.match_spec_compile([{{List.wrap(m)}, [], [true]}])
    :ets.match_spec_run([{Key.list_form(Key.decode(Key.encode(key)))}], spec) == [true]
  end

  test "bytes outside the scheme decode as the raw binary they are" do
    assert Key.decode(<<0>>) == <<0>>
    assert Key.decode(<<0, 7, 1>>) == <<0, 7, 1>>
    assert Key.decode(<<0, 1, 99>>) == <<0, 1, 99>>
    assert Key.decode(<<0, 0, 5>>) == <<0, 0, 5>>
  end
end
