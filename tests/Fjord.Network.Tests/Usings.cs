namespace Fjord.Network.Tests;
