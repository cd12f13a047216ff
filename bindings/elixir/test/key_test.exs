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

  test "bytes outside the scheme decode as the raw binary they are" do
    assert Key.decode(<<0>>) == <<0>>
    assert Key.decode(<<0, 7, 1>>) == <<0, 7, 1>>
    assert Key.decode(<<0, 1, 99>>) == <<0, 1, 99>>
    assert Key.decode(<<0, 0, 5>>) == <<0, 0, 5>>
  end
end
